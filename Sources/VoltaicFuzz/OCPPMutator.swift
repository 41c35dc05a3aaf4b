import CSMS
import CSMSMemory
import OCPP

/// The grammar-aware half of the mutator: an input is read as an `InboundScript` and one of its frames as
/// JSON, and a value inside is changed to one that has broken OCPP implementations before — integers at
/// the edges of Int32, Int64 and Double's exact range, exponents past any float, numbers sent as strings,
/// dates at the ends of the calendar and dates that do not exist, very long strings, NUL, deep nesting,
/// missing and duplicated fields, another action's name. Input that is not a script of JSON frames (nil)
/// goes to the byte-level mutator.
struct OCPPMutator {
    private var rng: SplitMix64

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    mutating func mutate(_ input: [UInt8], maxSize: Int) -> [UInt8]? {
        // One in five goes to byte-level mutation anyway, to reach the parser's error paths.
        guard rng.below(5) != 0 else { return nil }
        var script = InboundScript(bytes: input)
        for _ in 0..<4 {
            var candidate = script
            guard mutate(&candidate) else { return nil }
            let bytes = Array(candidate.text.utf8)
            if bytes.count <= maxSize { return bytes }
            script = InboundScript(bytes: input)
        }
        return nil
    }

    mutating func crossOver(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        let first = InboundScript(bytes: a), second = InboundScript(bytes: b)
        let head = first.frames.prefix(rng.below(first.frames.count + 1))
        let tail = second.frames.suffix(rng.below(second.frames.count + 1))
        return Array(InboundScript(version: first.version, frames: Array(head + tail).prefix(InboundScript.maxFrames).map { $0 }).text.utf8)
    }

    // MARK: Script level

    private mutating func mutate(_ script: inout InboundScript) -> Bool {
        if script.frames.isEmpty { return false }
        switch rng.below(24) {
        case 0:
            script.version = script.version == .v16 ? .v201 : .v16
        case 20:
            script.registration = pick([.accepted, .pending, .rejected])
        case 21 where script.frames.count < InboundScript.maxFrames:
            // Reconnect, let time pass, run maintenance: the replay guard, expiry and the stale policy.
            script.frames.insert(pick(InboundScript.Directive.allCases).rawValue, at: rng.below(script.frames.count + 1))
        case 22 where script.frames.count < InboundScript.maxFrames:
            // The same CALL again after a reconnect: only the database's replay guard can answer it.
            let i = rng.below(script.frames.count)
            script.frames.insert(contentsOf: [InboundScript.Directive.reconnect.rawValue, script.frames[i]], at: min(script.frames.count, i + 1 + rng.below(script.frames.count - i)))
            script.frames = Array(script.frames.prefix(InboundScript.maxFrames))
        case 1 where script.frames.count < InboundScript.maxFrames:
            let i = rng.below(script.frames.count)
            script.frames.insert(script.frames[i], at: rng.below(script.frames.count + 1))
        case 2 where script.frames.count > 1:
            script.frames.remove(at: rng.below(script.frames.count))
        case 3 where script.frames.count > 1:
            script.frames.swapAt(rng.below(script.frames.count), rng.below(script.frames.count))
        default:
            let i = rng.below(script.frames.count)
            if InboundScript.Directive(rawValue: script.frames[i]) != nil {
                script.frames[i] = pick(InboundScript.Directive.allCases).rawValue
                return true
            }
            guard case .success(let frame) = Result(catching: { try JSONParser.parse(script.frames[i]) }) else { return false }
            script.frames[i] = mutate(frame: frame).serialized
        }
        return true
    }

    // MARK: Frame level

    private mutating func mutate(frame: JSONValue) -> JSONValue {
        guard case .array(var items) = frame, items.count == 4 else { return mutate(tree: frame) }
        switch rng.below(16) {
        case 0:
            items[2] = .string(pick(Self.actions))
        case 1:
            items[0] = pick([.number(JSONNumber(3)), .number(JSONNumber(4)), .number(JSONNumber(5)), .number(JSONNumber(literal: "2.0")), .string("2"), .number(JSONNumber(-1))])
        case 2:
            items[1] = .string(pick(["", "1", "2", String(repeating: "9", count: 36), String(repeating: "9", count: 37), "\u{0}", "é"]))
        case 3:
            items.removeLast(rng.below(2) + 1)
        default:
            items[3] = mutate(tree: items[3])
        }
        return .array(items)
    }

    // MARK: Value level

    /// Changes one node of `tree`, chosen uniformly.
    private mutating func mutate(tree: JSONValue) -> JSONValue {
        var target = rng.below(Self.count(tree))
        return replace(tree, &target)
    }

    private static func count(_ v: JSONValue) -> Int {
        switch v {
        case .array(let a): 1 + a.reduce(0) { $0 + count($1) }
        case .object(let o): 1 + o.values.reduce(0) { $0 + count($1) }
        default: 1
        }
    }

    private mutating func replace(_ v: JSONValue, _ target: inout Int) -> JSONValue {
        if target == 0 {
            target = -1
            return mutate(node: v)
        }
        target -= 1
        switch v {
        case .array(var a):
            for i in a.indices where target >= 0 { a[i] = replace(a[i], &target) }
            return .array(a)
        case .object(var o):
            for key in o.keys.sorted() where target >= 0 { o[key] = replace(o[key]!, &target) }
            return .object(o)
        default:
            return v
        }
    }

    private mutating func mutate(node v: JSONValue) -> JSONValue {
        if rng.below(12) == 0 { return nest(v) }
        if rng.below(10) == 0 { return interestingValue() }
        switch v {
        case .number(let n):
            switch rng.below(4) {
            case 0: return .string(pick(Self.numberStrings + [n.text]))
            case 1:
                guard let i = n.int64Value else { return .number(JSONNumber(literal: pick(Self.numbers))) }
                let (next, _) = i.addingReportingOverflow(pick([1, -1, 1000, -1000, Int64(Int32.max)]))
                return .number(JSONNumber(rng.below(3) == 0 ? (i == .min ? i : -i) : next))
            default: return .number(JSONNumber(literal: pick(Self.numbers)))
            }
        case .string(let s):
            switch rng.below(6) {
            case 0: return .string(pick(Self.dates))
            case 1: return .string(String(repeating: pick(["A", "9", "é", "🔌", "\u{0}"]), count: pick([37, 256, 1025, 2500])))
            case 2: return .string(pick(Self.numberStrings))
            case 3: return .string(String(s.prefix(rng.below(s.count + 1))) + pick(["", "\u{0}", "\u{FEFF}", "\"", "\\", "\n"]))
            case 4: return .number(JSONNumber(literal: pick(Self.numbers)))
            default: return .string(pick(Self.words))
            }
        case .object(var o):
            let keys = o.keys.sorted()
            switch rng.below(3) {
            case 0 where !keys.isEmpty:
                o[pick(keys)] = nil
            case 1 where !keys.isEmpty:
                o[pick(Self.fields)] = o[pick(keys)]
            default:
                o[pick(Self.fields)] = interestingValue()
            }
            return .object(o)
        case .array(var a):
            switch rng.below(4) {
            case 0 where !a.isEmpty: a.remove(at: rng.below(a.count))
            case 1 where !a.isEmpty: a.append(contentsOf: Array(repeating: a[rng.below(a.count)], count: pick([1, 2, 15, 200])))
            case 2: a = []
            default: if !a.isEmpty { a.swapAt(rng.below(a.count), rng.below(a.count)) }
            }
            return .array(a)
        case .bool(let b):
            return rng.below(2) == 0 ? .bool(!b) : .string(b ? "true" : "false")
        case .null:
            return interestingValue()
        }
    }

    private mutating func interestingValue() -> JSONValue {
        switch rng.below(7) {
        case 0: .number(JSONNumber(literal: pick(Self.numbers)))
        case 1: .string(pick(Self.numberStrings))
        case 2: .string(pick(Self.dates))
        case 3: .string(pick(Self.words))
        case 4: pick([.null, .bool(true), .bool(false), .object([:]), .array([])])
        case 5: .object(["unit": .string(pick(["kWh", "Wh", "kW", "W", "Celcius", ""])), "multiplier": .number(JSONNumber(literal: pick(Self.numbers)))])
        default: .array([.object(["value": .number(JSONNumber(literal: pick(Self.numbers))), "measurand": .string("Energy.Active.Import.Register")])])
        }
    }

    /// Wraps a value in arrays or objects around the parser's depth limit.
    private mutating func nest(_ v: JSONValue) -> JSONValue {
        var out = v
        let depth = pick([8, 31, 32, 62, 63, 64, 65, 100])
        let asObject = rng.below(2) == 0
        for _ in 0..<depth { out = asObject ? .object(["a": out]) : .array([out]) }
        return out
    }

    private mutating func pick<T>(_ options: [T]) -> T { options[rng.below(options.count)] }

    // MARK: Vocabulary

    static let numbers = [
        "-9223372036854775808", "9223372036854775807", "9223372036854775808", "-9223372036854775809", "18446744073709551616",
        "-2147483648", "2147483647", "2147483648", "-2147483649", "4294967296", "9007199254740992", "9007199254740993",
        "-9007199254740992", "-1", "0", "1", "2", "3", "-0", "1000000000", "-1000000000", "128", "-128", "38", "39", "127",
        "1e308", "1.7976931348623157e308", "1e999", "-1e999", "-1e-999", "1e-400", "5e-324", "0.1", "0.5", "2.5", "-2.5",
        "1E+2", "1e2", "123456789012345678901234567890", "0.000000000000000000000000000000000000001", "99999999999999999999.5",
    ]
    static let numberStrings = [
        "NaN", "nan", "Infinity", "-Infinity", "inf", "1e999", "-1e-999", "0x10", "1_000", " 12 ", "12,5", "+1", "--1", "1e",
        ".", "-", "e5", "1.2.3", "9223372036854775808", "-9223372036854775808", "1e38", "1e128", "1e-128", "",
    ]
    static let dates = [
        "0000-01-01T00:00:00Z", "0000-03-01T00:00:00Z", "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.9999999Z",
        "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "2024-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z",
        "2026-01-01T24:00:00Z", "2026-01-01T23:59:60Z", "2026-01-01T00:00:00+23:59", "2026-01-01T00:00:00-23:59",
        "2026-01-01T00:00:00.000000000000000001Z", "2026-01-01 00:00:00z", "2026-01-01T00:00:00", "1970-01-01T00:00:00Z",
        "2026-01-01T11:00:00Z", "2026-01-01T12:00:00Z", "2026-01-01T12:05:01Z", "2036-01-01T00:00:00Z", "1900-01-01T00:00:00Z",
    ]
    static let words = [
        "TOKEN-OK", "TOKEN-BLOCKED", "TOKEN-EXPIRED", "TOKEN-MEMBER", "FLEET", "TOKEN-LONGGROUP", "FUZZ-CS-1", "FUZZ-CS-P", "TX-1", "1", "2", "Started", "Updated",
        "Ended", "Energy.Active.Import.Register", "Energy.Active.Import.Interval", "Power.Active.Import", "SoC", "kWh", "Wh", "kW",
        "Celcius", "SignedData", "Raw", "Outlet", "Body", "L1", "N", "Transaction.Begin", "Sample.Clock", "Accepted", "Invalid",
        "Available", "Charging", "Faulted", "Local", "EVDisconnected", "ISO14443", "Central", "NoAuthorization", "", " ", "null",
    ]
    static let fields = [
        "multiplier", "unitOfMeasure", "unit", "meterStart", "meterStop", "transactionId", "seqNo", "evseId", "connectorId", "evse",
        "reservationId", "remoteStartId", "idTag", "idToken", "timestamp", "value", "measurand", "phase", "location", "context",
        "format", "eventType", "offline", "chargingState", "stoppedReason", "transactionData", "meterValue", "sampledValue",
        "transactionInfo", "customData", "status", "errorCode", "id",
    ]
    static let actions = Array(Set(OCPPSchemas.actions(.v16) + OCPPSchemas.actions(.v201))).sorted() + ["", "heartbeat", "BootNotificationRequest", String(repeating: "A", count: 37)]
}

/// A small, fast, seedable generator: libFuzzer hands over the seed, so a mutation can be replayed.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in 0..<bound; 0 when bound is 0.
    mutating func below(_ bound: Int) -> Int {
        bound <= 0 ? 0 : Int(next() % UInt64(bound))
    }
}
