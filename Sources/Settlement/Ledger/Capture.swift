public import Foundation

/// The end of a held session in money: what is captured (the price, never more than was held), what is released,
/// and how the capture is shared. Two journal entries, each balanced, keyed by the hold so a replay writes nothing.
public struct CapturePlan: Sendable, Hashable {
    public var price: Decimal
    public var captured: Decimal
    public var released: Decimal
    public var shares: [SplitRule.Party: Decimal]
    public var payees: [SplitRule.Party: AccountRef]
    public var entries: [JournalEntry]

    /// The platform's account owner.
    public static let platformOwner = "platform"

    /// `price` is the session's total with VAT; it is charged to the cent (half away from zero).
    public init(holdId: Int64, driver: String, currency: String, held: Decimal, price: Decimal, rule: SplitRule, host: String) {
        self.price = Amounts.cents(max(price, 0))
        captured = min(self.price, held)
        released = held - captured
        shares = rule.split(captured)
        payees = [
            .host: AccountRef(.host, host, currency), .platform: AccountRef(.platform, Self.platformOwner, currency),
            .referrer: AccountRef(.referrer, rule.referrer ?? Self.platformOwner, currency),
        ]
        let hold = AccountRef(.driverHold, driver, currency)
        var capture = [Posting(hold, -captured)]
        for party in SplitRule.Party.allCases { capture.append(Posting(payees[party]!, shares[party] ?? 0)) }
        entries = [
            JournalEntry(kind: .capture, idempotencyKey: "capture:\(holdId)", memo: "session charge", postings: capture),
            JournalEntry(kind: .release, idempotencyKey: "release:\(holdId)", memo: "unused hold", postings: [Posting(hold, -released), Posting(AccountRef(.driver, driver, currency), released)]),
        ].filter { !$0.postings.isEmpty }
    }

    /// The entry that blocks `amount` of a driver's funds.
    public static func hold(id: Int64, driver: String, currency: String, amount: Decimal) -> JournalEntry {
        JournalEntry(kind: .hold, idempotencyKey: "hold:\(id)", memo: "funds hold", postings: [
            Posting(AccountRef(.driver, driver, currency), -amount), Posting(AccountRef(.driverHold, driver, currency), amount),
        ])
    }

    /// The entry that gives back a hold that lapsed or was cancelled.
    public static func release(id: Int64, driver: String, currency: String, amount: Decimal, kind: JournalEntry.Kind = .expire) -> JournalEntry {
        JournalEntry(kind: kind, idempotencyKey: "\(kind.rawValue):\(id)", memo: "hold returned", postings: [
            Posting(AccountRef(.driverHold, driver, currency), -amount), Posting(AccountRef(.driver, driver, currency), amount),
        ])
    }

    /// A top-up through a funds provider, keyed by the provider's reference.
    public static func topUp(driver: String, currency: String, amount: Decimal, provider: String, reference: String) -> JournalEntry {
        JournalEntry(kind: .topup, idempotencyKey: "topup:\(provider):\(reference)", memo: "top-up", postings: [
            Posting(AccountRef(.funding, provider, currency), -amount), Posting(AccountRef(.driver, driver, currency), amount),
        ])
    }
}
