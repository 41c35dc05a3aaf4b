public import Foundation

/// Decides whether a token may charge. Pure: the caller looks up the token, its group and
/// whether it is already charging.
public enum AuthorizationRules {
    public static func decide(token: IdToken?, group: IdToken?, alreadyCharging: Bool, now: Date) -> AuthorizationInfo {
        guard let token else { return AuthorizationInfo(status: .invalid) }
        let own = verdict(of: token, now: now)
        let groupVerdict: AuthorizationStatus = group.map { verdict(of: $0, now: now) } ?? .accepted
        let expiresAt = [token.expiresAt, group?.expiresAt].compactMap { $0 }.min()
        if own != .accepted { return AuthorizationInfo(status: own, expiresAt: expiresAt, groupId: token.groupId) }
        if groupVerdict != .accepted { return AuthorizationInfo(status: groupVerdict, expiresAt: expiresAt, groupId: token.groupId) }
        if alreadyCharging { return AuthorizationInfo(status: .concurrentTx, expiresAt: expiresAt, groupId: token.groupId) }
        return AuthorizationInfo(status: .accepted, expiresAt: expiresAt, groupId: token.groupId)
    }

    private static func verdict(of token: IdToken, now: Date) -> AuthorizationStatus {
        if token.status == .blocked { return .blocked }
        if token.status == .expired { return .expired }
        if let expiresAt = token.expiresAt, expiresAt <= now { return .expired }
        return token.status == .accepted ? .accepted : token.status
    }
}
