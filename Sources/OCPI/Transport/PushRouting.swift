/// Who is sent which object: the rules of pushes, apart from how they are stored and sent.
///
/// - A partner receives a module's pushes when its 2.2.1 details list that module as a RECEIVER endpoint
///   (2.1.1 partners pull; their push shapes are not built yet).
/// - Tariffs go to every such partner.
/// - A location with `publish` false still goes to eMSPs and hubs, which show it only to the tokens it names
///   (`publish_allowed_to`); a map service or access point (NSP, NAP, OTHER) gets published locations only, and,
///   once it was sent a location, every later change of it, so that it learns the location left the map.
public enum PushRouting {
    /// A partner as the rules need it.
    public struct Recipient: Sendable, Hashable {
        public var id: Int64
        public var version: OCPIVersion?
        public var roles: [PartyRole]
        public var endpoints: [Endpoint]

        public init(id: Int64, version: OCPIVersion?, roles: [PartyRole], endpoints: [Endpoint]) {
            self.id = id
            self.version = version
            self.roles = roles
            self.endpoints = endpoints
        }

        /// The URL this partner receives `module` pushes at, if it does.
        /// 2.1.1 endpoints have no role: a 2.1.1 eMSP lists its own interface of each module, which is where the CPO
        /// pushes (locations, tariffs, sessions and cdrs; the others have nothing pushed).
        public func receiverURL(_ module: ModuleID) -> String? {
            switch version {
            case .v221: return endpoints.first { $0.identifier.lowercased() == module.rawValue && $0.role == .receiver }?.url
            case .v211:
                guard [.locations, .tariffs, .sessions, .cdrs].contains(module) else { return nil }
                return endpoints.first { $0.identifier.lowercased() == module.rawValue }?.url
            case nil: return nil
            }
        }

        /// Whether it shows locations to drivers (and so may be sent unpublished ones, which it filters).
        var servesDrivers: Bool { roles.contains(.emsp) || roles.contains(.hub) }
    }

    /// Whether `recipient` is sent a change of a location: `published` is the location's `publish`,
    /// `sentBefore` whether this partner was ever sent (or is waiting for) a push of it.
    public static func receivesLocation(_ recipient: Recipient, published: Bool, sentBefore: Bool) -> Bool {
        guard recipient.receiverURL(.locations) != nil else { return false }
        // 2.1.1 has no `publish`: an unpublished location would reach its drivers, so only published ones are sent.
        if recipient.version == .v211 { return published }
        return published || recipient.servesDrivers || sentBefore
    }

    public static func receivesTariffs(_ recipient: Recipient) -> Bool {
        recipient.receiverURL(.tariffs) != nil
    }
}
