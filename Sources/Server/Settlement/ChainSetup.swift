import Chain
import Foundation
import Logging
import PostgresNIO
import Storage

/// The anchoring chain from the settlement configuration: all of RPC URL, key file and contract, or none.
enum ChainSetup {
    /// `sessionClient`: where the anchoring lock is held, when `client` is a pooler in transaction mode.
    static func load(_ c: SettlementConfiguration, client: PostgresClient, sessionClient: PostgresClient? = nil, logger: Logger) throws -> SettlementService.Anchoring? {
        let given = [c.chainRPC, c.chainKeyFile, c.chainContract].compactMap { $0 }
        guard !given.isEmpty else { return nil }
        guard let url = c.chainRPC, let keyFile = c.chainKeyFile, let contractText = c.chainContract else {
            throw ConfigurationError("anchoring needs --chain-rpc, --chain-key-file and --chain-contract together")
        }
        guard let contract = Address(contractText.lowercased()) else { throw ConfigurationError("--chain-contract: \(contractText.prefix(60)) is not an address") }
        let key = try loadKey(keyFile)
        var store = PostgresAnchorStore(client: client, logger: logger)
        store.sessionClient = sessionClient
        let anchorer = Anchorer(
            rpc: EthereumRPC(url: url, logger: logger), key: key, contract: contract, store: store,
            policy: AnchorLifecycle.Policy(confirmations: c.chainConfirmations), logger: logger
        )
        return SettlementService.Anchoring(store: store, anchorer: anchorer)
    }

    /// A chain key file: 64 hex digits, with or without 0x. Its content is never logged.
    static func loadKey(_ path: String) throws -> PrivateKey {
        guard let key = PrivateKey(hexFile: path) else { throw ConfigurationError("\(path): cannot be read, or is not a chain key (64 hex digits)") }
        return key
    }
}
