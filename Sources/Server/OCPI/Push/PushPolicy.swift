import Foundation
import Storage

/// How often and how long a push is tried: exponential backoff with jitter, and a budget of attempts after
/// which it is a dead letter. Pure: the random draw is passed in.
struct PushPolicy: Sendable {
    /// Attempts before a push is given up (a dead letter).
    var maxAttempts = 15
    /// The wait after the first failure; it doubles with each further one, up to `maxBackoff`.
    var backoff: Duration = .seconds(2)
    var maxBackoff: Duration = .seconds(600)

    /// The wait after the `attempt`-th failed attempt (1 for the first), given a draw in 0...1: between half
    /// and all of the doubled wait ("equal jitter"), so that pushes that failed together do not retry together.
    func delay(afterAttempt attempt: Int, draw: Double) -> Duration {
        let base = backoff.seconds, cap = maxBackoff.seconds
        let doubled = min(cap, base * pow(2, Double(min(max(attempt, 1) - 1, 60))))
        let jittered = doubled * (0.5 + 0.5 * min(max(draw, 0), 1))
        return .milliseconds(Int64((jittered * 1000).rounded()))
    }

    /// What becomes of a push whose `attempt`-th try ended so.
    func outcome(of answer: PushAnswer, attempt: Int, draw: Double) -> PushRepository.Outcome {
        switch answer.verdict {
        case .delivered: return .delivered
        case .permanent(let why): return .dead(why)
        case .transient(let why):
            guard attempt < maxAttempts else { return .dead("\(why); gave up after \(attempt) attempts") }
            return .retry(why, after: delay(afterAttempt: attempt, draw: draw))
        }
    }
}

/// What a partner answered a push, and what that means for it.
struct PushAnswer: Sendable, Equatable {
    enum Verdict: Equatable {
        case delivered
        /// Sending it again may work (the partner is down, busy, or failed on its side).
        case transient(String)
        /// Sending it again cannot work until someone changes something (the partner refuses the object, or us).
        case permanent(String)
    }

    var verdict: Verdict
    /// The `Location` header of the answer (a CDR POST's: where the partner keeps its copy).
    var location: String? = nil

    /// From an HTTP status and the envelope's `status_code`, if the body had one. OCPI's 1xxx is success;
    /// 2xxx is the partner refusing what was sent; 3xxx is the partner's own failure (a server error, or a
    /// platform it must call that is down), worth trying again. A 2xx without an envelope is taken as delivered:
    /// partners that answer 200 with no body exist, and the object was accepted.
    static func from(http: Int, ocpiStatus: Int?, message: String? = nil) -> PushAnswer {
        let said = message.map { ": " + $0.prefix(200) } ?? ""
        if let code = ocpiStatus {
            switch code {
            case 1000..<2000 where (200..<300).contains(http): return PushAnswer(verdict: .delivered)
            case 2000..<3000: return PushAnswer(verdict: .permanent("the partner refused it: HTTP \(http), OCPI \(code)\(said)"))
            case 3000..<4000: return PushAnswer(verdict: .transient("the partner failed: HTTP \(http), OCPI \(code)\(said)"))
            default: break
            }
        }
        switch http {
        case 200..<300 where ocpiStatus == nil: return PushAnswer(verdict: .delivered)
        case 200..<300: return PushAnswer(verdict: .transient("HTTP \(http) with OCPI status \(ocpiStatus ?? 0)\(said)"))
        case 408, 425, 429, 500..<600: return PushAnswer(verdict: .transient("HTTP \(http)\(said)"))
        default: return PushAnswer(verdict: .permanent("HTTP \(http)\(said)"))
        }
    }

    static func unreachable(_ why: String) -> PushAnswer { PushAnswer(verdict: .transient(why)) }
}
