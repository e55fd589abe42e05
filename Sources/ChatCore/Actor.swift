/// On whose behalf a call runs: the tenant, the acting profile, and the scopes of the calling key.
public struct CallActor: Sendable, Equatable {
    public var tenantId: String
    public var profileId: String
    public var scopes: Set<Scope>

    public init(tenantId: String, profileId: String, scopes: Set<Scope> = [.chat]) {
        self.tenantId = tenantId
        self.profileId = profileId
        self.scopes = scopes
    }

    /// Whether the calling key holds `scope`.
    public func has(_ scope: Scope) -> Bool { scopes.contains(scope) }

    /// Throws SCOPE_MISSING unless the key holds one of `accepted` (named: the first of them).
    public func require(_ accepted: Scope...) throws {
        guard accepted.contains(where: scopes.contains) else { throw ChatError.scopeMissing(accepted[0]) }
    }
}
