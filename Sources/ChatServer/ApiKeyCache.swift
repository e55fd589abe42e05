import ChatCore
import Crypto
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
    /// A cached key with an HMAC keyed with its secret: keying one is a third of a signature check, so each check
    /// updates a copy of this one (`RequestSigning.verify(_:keyed:)`). @unchecked Sendable: `HMAC` is a value whose
    /// hash state is copied on write (swift-crypto checks `isKnownUniquelyReferenced` before each update), and the
    /// stored one is never updated.
    struct Entry: @unchecked Sendable {
        let key: ApiKey
        let mac: HMAC<SHA256>
    }

    private let keys = Mutex<[String: Entry]>([:])
    private let capacity: Int

    static let defaultCapacity = 4096

    init(capacity: Int = ApiKeyCache.defaultCapacity) { self.capacity = capacity }

    func key(_ id: String) -> Entry? { keys.withLock { $0[id] } }

    /// Remembers an active key (and returns its entry); forgets a revoked or missing one.
    @discardableResult
    func update(_ id: String, _ key: ApiKey?) -> Entry? {
        guard let key, key.revokedAt == nil else {
            forget(id)
            return nil
        }
        let entry = Entry(key: key, mac: HMAC<SHA256>(key: SymmetricKey(data: key.secret)))
        keys.withLock { keys in
            if keys.count >= capacity { keys.removeAll(keepingCapacity: true) }
            keys[id] = entry
        }
        return entry
    }

    func forget(_ id: String) { _ = keys.withLock { $0.removeValue(forKey: id) } }
}
