import ChatCore
import Synchronization

/// Service keys this process has looked up, so that a mutation's signature can be checked without a
/// database read on the receiving thread.
///
/// A key's secret, tenants and scopes never change after it is created; only revocation does, and
/// revocation is never taken from here: the write path checks it inside the mutation's own transaction
/// (`ChatTransaction.apiKeyIsActive`), and reads load the key in their snapshot. A cached key whose
/// check fails for any reason is looked up again before the call is refused, so the refusal and its
/// reason are exactly those of the database's current row. Nothing here is needed by another instance.
final class ApiKeyCache: Sendable {
    private let keys = Mutex<[String: ApiKey]>([:])
    private let capacity: Int

    static let defaultCapacity = 4096

    init(capacity: Int = ApiKeyCache.defaultCapacity) { self.capacity = capacity }

    func key(_ id: String) -> ApiKey? { keys.withLock { $0[id] } }

    /// Remembers an active key; forgets a revoked or missing one.
    func update(_ id: String, _ key: ApiKey?) {
        keys.withLock { keys in
            guard let key, key.revokedAt == nil else {
                keys.removeValue(forKey: id)
                return
            }
            if keys.count >= capacity { keys.removeAll(keepingCapacity: true) }
            keys[id] = key
        }
    }

    func forget(_ id: String) { _ = keys.withLock { $0.removeValue(forKey: id) } }
}
