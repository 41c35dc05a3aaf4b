/// Deploys the anchor contract from `key` and waits for its address.
public enum ContractDeployer {
    public static func deployAnchor(rpc: EthereumRPC, key: PrivateKey, pollEvery: Duration = .milliseconds(100), timeout: Duration = .seconds(60)) async throws -> Address {
        let chainId = try await rpc.chainId()
        let nonce = try await rpc.transactionCount(key.address, block: "pending")
        let code = AnchorContract.deployBytecode
        let gas = try await rpc.estimateGas(from: key.address, to: nil, data: code)
        let tx: Transaction
        if let base = try await rpc.block("latest")?.baseFeePerGas {
            let tip = try await rpc.maxPriorityFeePerGas()
            tx = .dynamicFee(.init(chainId: chainId, nonce: nonce, maxPriorityFeePerGas: tip, maxFeePerGas: base * 2 + tip, gasLimit: gas + gas / 5, to: nil, data: code))
        } else {
            tx = .legacy(.init(chainId: chainId, nonce: nonce, gasPrice: try await rpc.gasPrice(), gasLimit: gas + gas / 5, to: nil, data: code))
        }
        let signed = try tx.signed(with: key)
        try await rpc.sendRawTransaction(signed)
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if let receipt = try await rpc.transactionReceipt(signed.hash) {
                guard receipt.status, let address = receipt.contractAddress else { throw RPCError(.executionReverted, message: "deployment reverted") }
                return address
            }
            try await Task.sleep(for: pollEvery)
        }
        throw RPCError(.unavailable, message: "deployment not mined in time")
    }
}
