public import Foundation
import OCPI

/// How a captured amount is shared: basis points for the host, the platform and a referrer, and the party that takes
/// the rounding remainder. Versioned by `validFrom`: a session uses the rule in force when it started.
public struct SplitRule: Hashable, Sendable, Codable {
    public enum Party: String, Hashable, Sendable, Codable, CaseIterable {
        case host, platform, referrer
    }

    public var hostBp: Int
    public var platformBp: Int
    public var referrerBp: Int
    public var referrer: String?
    public var remainder: Party

    public init(hostBp: Int, platformBp: Int, referrerBp: Int = 0, referrer: String? = nil, remainder: Party = .platform) {
        self.hostBp = hostBp
        self.platformBp = platformBp
        self.referrerBp = referrerBp
        self.referrer = referrer
        self.remainder = remainder
    }

    /// Everything to the host: what applies where no rule was set.
    public static let hostTakesAll = SplitRule(hostBp: 10_000, platformBp: 0, remainder: .host)

    public enum Refusal: Error, Hashable, Sendable, CustomStringConvertible {
        case share(String)
        case sum(Int)
        case referrerMissing
        public var description: String {
            switch self {
            case .share(let f): "\(f): must be between 0 and 10000 basis points"
            case .sum(let s): "the shares must add up to 10000 basis points (they add up to \(s))"
            case .referrerMissing: "referrer: required when the referrer has a share or takes the remainder"
            }
        }
    }

    public func validate() throws(Refusal) {
        for (name, bp) in [("hostBp", hostBp), ("platformBp", platformBp), ("referrerBp", referrerBp)] where !(0...10_000).contains(bp) {
            throw .share(name)
        }
        guard hostBp + platformBp + referrerBp == 10_000 else { throw .sum(hostBp + platformBp + referrerBp) }
        if (referrerBp > 0 || remainder == .referrer), referrer?.isEmpty ?? true { throw .referrerMissing }
    }

    /// The shares of `amount` (2 decimals): each party's basis points rounded down to the cent, and what rounding
    /// left over to `remainder`. The shares always add up to `amount` exactly.
    public func split(_ amount: Decimal) -> [Party: Decimal] {
        var shares: [Party: Decimal] = [:]
        for (party, bp) in [(Party.host, hostBp), (.platform, platformBp), (.referrer, referrerBp)] {
            shares[party] = (amount * Decimal(bp) / 10_000).rounded(2, .down)
        }
        let left = amount - shares.values.reduce(0, +)
        shares[remainder, default: 0] += left
        return shares
    }
}
