/// Who an active device API key authenticates: DeviceAPI writes it into the gateway's Redis
/// index under the key's SHA-256, the gateway reads it on every keyed request.
public struct APIKeyIndexEntry: Codable, Sendable, Equatable {
    /// The device's id.
    public var deviceID: String
    /// The device's tenant.
    public var tenantID: String
    /// The tenant's plan when the key was issued, for rate limits.
    public var plan: String?
    /// The organisation at the root of the tenant's tree, whose rate-limit budget it shares.
    public var organisationID: String?

    /// Creates an entry.
    public init(deviceID: String, tenantID: String, plan: String?, organisationID: String? = nil) {
        self.deviceID = deviceID
        self.tenantID = tenantID
        self.plan = plan
        self.organisationID = organisationID
    }
}
