/// The domain over a storage: runs one `ChatDomain` operation per storage transaction, through the
/// storage's two entry points (the same ones the server uses).
public struct ChatService: Sendable {
    public let domain: ChatDomain
    public let storage: any ChatStorage

    public init(domain: ChatDomain = ChatDomain(), storage: any ChatStorage) {
        self.domain = domain
        self.storage = storage
    }

    /// Runs a mutating operation in one transaction of the write path and returns its value after the commit.
    public func write<T: Sendable>(
        _ actor: CallActor, _ operation: @escaping @Sendable (ChatDomain, any ChatTransaction) throws -> T
    ) async throws -> T {
        try domain.checkActor(actor)
        let domain = self.domain
        return try await storage.write { tx in try operation(domain, tx) }
    }

    /// Runs a read-only operation on a snapshot, on the calling thread.
    public func read<T>(_ actor: CallActor, _ operation: (ChatDomain, any ChatTransaction) throws -> T) throws -> T {
        try domain.checkActor(actor)
        return try storage.read { tx in try operation(domain, tx) }
    }
}
