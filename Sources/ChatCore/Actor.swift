/// On whose behalf a call runs: the tenant, the acting profile, and the scopes of the calling key.
public struct CallActor: Sendable, Equatable {
    public var tenantId: String
    public var profileId: String
    public var scopes: Set<Scope>
    /// The service key that called (nil for the server's own jobs and in domain tests).
    public var keyId: String?

    public init(tenantId: String, profileId: String, scopes: Set<Scope> = [.chat], keyId: String? = nil) {
        self.tenantId = tenantId
        self.profileId = profileId
        self.scopes = scopes
        self.keyId = keyId
    }

    /// Who this actor is in the audit trail: `key:KEY_ID` (`profile:ID` when no key is known).
    public var auditName: String { keyId.map { "key:" + $0 } ?? "profile:" + profileId }

    /// Whether the calling key holds `scope`.
    public func has(_ scope: Scope) -> Bool { scopes.contains(scope) }

    /// Throws SCOPE_MISSING unless the key holds one of `accepted` (named: the first of them).
    public func require(_ accepted: Scope...) throws {
        guard accepted.contains(where: scopes.contains) else { throw ChatError.scopeMissing(accepted[0]) }
    }
}
