/// The async face of the domain: runs one `ChatDomain` operation per storage transaction.
///
/// Reads run on a snapshot, writes through the storage's single write path. Each write returns the
/// events it committed, in log order, for the caller to publish.
public struct ChatService: Sendable {
    public let domain: ChatDomain
    public let storage: any ChatStorage

    public init(domain: ChatDomain = ChatDomain(), storage: any ChatStorage) {
        self.domain = domain
        self.storage = storage
    }

    /// Runs a mutating operation in one transaction.
    ///
    /// - Throws: `ChatError` (with `committedEvents` for a refused tool call), or a storage error.
    public func write<T: Sendable>(
        _ actor: CallActor, _ operation: @escaping @Sendable (ChatDomain, any ChatTransaction) throws -> T
    ) async throws -> Committed<T> {
        try domain.checkActor(actor)
        let domain = self.domain
        return try await storage.write { tx in try operation(domain, tx) }
    }

    /// Runs a read-only operation on a snapshot.
    public func read<T: Sendable>(
        _ actor: CallActor, _ operation: @escaping @Sendable (ChatDomain, any ChatTransaction) throws -> T
    ) async throws -> T {
        try domain.checkActor(actor)
        let domain = self.domain
        return try await storage.read { tx in try operation(domain, tx) }
    }
}
