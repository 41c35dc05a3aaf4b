/// The anchor contract (Anchor.vy beside this file): deploy data and call encodings.
public enum AnchorContract {
    public static var deployBytecode: [UInt8] { Hex.decode(deployBytecodeHex) ?? [] }
}
