public import Foundation
import OCPI

/// Amounts of money: `Decimal` with 2 decimals (the minor unit of every currency Voltaic prices in), never floating
/// point. Amounts from outside (an API body, a CLI flag) are checked here before any arithmetic.
public enum Amounts {
    /// The largest amount one entry moves: 10^12 in major units, far below `numeric(18, 2)`'s range.
    public static let maximum: Decimal = 1_000_000_000_000

    public enum Refusal: Error, Hashable, Sendable, CustomStringConvertible {
        case notAnAmount(String)
        case notPositive
        case tooPrecise
        case tooLarge
        case badCurrency(String)

        public var description: String {
            switch self {
            case .notAnAmount(let s): "\(s.prefix(40)) is not a decimal amount"
            case .notPositive: "must be greater than 0"
            case .tooPrecise: "has more than 2 decimals"
            case .tooLarge: "must be at most \(Amounts.maximum)"
            case .badCurrency(let c): "\(c.prefix(8)) is not an ISO 4217 currency code (three capital letters)"
            }
        }
    }

    /// A positive amount of at most 2 decimals, from its decimal text (`12`, `12.5`, `12.50`).
    public static func parse(_ text: String) throws(Refusal) -> Decimal {
        let digits = text.utf8
        guard !digits.isEmpty, digits.count <= 20, digits.allSatisfy({ (0x30...0x39).contains($0) || $0 == 0x2E }),
              digits.filter({ $0 == 0x2E }).count <= 1, digits.first != 0x2E, digits.last != 0x2E,
              let value = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX"))
        else { throw .notAnAmount(text) }
        return try check(value)
    }

    /// A positive amount of at most 2 decimals and at most `maximum`.
    public static func check(_ value: Decimal) throws(Refusal) -> Decimal {
        guard value.isFinite else { throw .notAnAmount("\(value)") }
        guard value > 0 else { throw .notPositive }
        guard value <= maximum else { throw .tooLarge }
        guard value.rounded(2, .plain) == value else { throw .tooPrecise }
        return value
    }

    public static func currency(_ code: String) throws(Refusal) -> String {
        guard code.utf8.count == 3, code.utf8.allSatisfy({ (0x41...0x5A).contains($0) }) else { throw .badCurrency(code) }
        return code
    }

    /// A price rounded to the cent as it is charged: half away from zero.
    public static func cents(_ value: Decimal) -> Decimal { value.rounded(2, .plain) }

    /// The amount as its fixed 2-decimal text, the form receipts and the API carry ("3.60").
    public static func text(_ value: Decimal) -> String {
        let v = cents(value)
        let negative = v < 0
        let units = NSDecimalNumber(decimal: (negative ? -v : v) * 100).int64Value
        return (negative ? "-" : "") + "\(units / 100).\(units % 100 < 10 ? "0" : "")\(units % 100)"
    }
}
