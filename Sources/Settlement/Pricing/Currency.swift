/// ISO 4217 minor units: how many decimals an amount of a currency is rounded to.
public enum Currency {
    /// Currencies whose minor unit is not 2 (ISO 4217 amendment 176). Any other code rounds to cents.
    private static let exceptions: [String: Int] = [
        "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0,
        "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
        "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
        "CLF": 4, "UYW": 4,
    ]

    public static func minorUnits(_ code: String) -> Int { exceptions[code] ?? 2 }
}
