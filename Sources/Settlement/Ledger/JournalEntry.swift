public import Foundation

/// An account of the ledger, by what it is for and whose it is. Every currency is a separate account.
public struct AccountRef: Hashable, Sendable, Codable, Comparable {
    public enum Kind: String, Hashable, Sendable, Codable, CaseIterable {
        /// A driver's spendable funds.
        case driver
        /// What is blocked for a driver's sessions, between hold and capture.
        case driverHold = "driver_hold"
        /// Whoever is paid for a Location's sessions: the station's owner or operator.
        case host
        case platform
        case referrer
        /// The far side of top-ups: one per funds provider. Its balance is minus what was paid in.
        case funding
    }

    public var kind: Kind
    public var owner: String
    public var currency: String

    public init(_ kind: Kind, _ owner: String, _ currency: String) {
        self.kind = kind
        self.owner = owner
        self.currency = currency
    }

    public static func < (a: Self, b: Self) -> Bool { (a.kind.rawValue, a.owner, a.currency) < (b.kind.rawValue, b.owner, b.currency) }
}

/// One posting: money into (positive) or out of (negative) an account.
public struct Posting: Hashable, Sendable {
    public var account: AccountRef
    public var amount: Decimal

    public init(_ account: AccountRef, _ amount: Decimal) {
        self.account = account
        self.amount = amount
    }
}

/// An immutable journal entry. Its postings sum to zero in every currency; PostgreSQL checks it again at commit.
public struct JournalEntry: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable, Codable {
        case topup, hold, capture, release, expire
    }

    public var kind: Kind
    /// The same key twice is the same entry: a replay writes nothing.
    public var idempotencyKey: String
    public var memo: String?
    public var postings: [Posting]

    public init(kind: Kind, idempotencyKey: String, memo: String? = nil, postings: [Posting]) {
        self.kind = kind
        self.idempotencyKey = idempotencyKey
        self.memo = memo
        // A zero posting moves nothing (a split share of 0): it is left out.
        self.postings = postings.filter { $0.amount != 0 }
    }

    /// True when the postings sum to zero per currency and each has at most 2 decimals.
    public var isBalanced: Bool {
        var sums: [String: Decimal] = [:]
        for p in postings {
            guard Amounts.cents(p.amount) == p.amount else { return false }
            sums[p.account.currency, default: 0] += p.amount
        }
        return sums.values.allSatisfy { $0 == 0 }
    }
}
