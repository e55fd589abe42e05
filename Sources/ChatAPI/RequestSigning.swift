import Crypto
import Foundation

/// Request signing of SPEC §7.3, shared by the server (verification) and the Swift client (signing).
public enum RequestSigning {
    /// The service's full method name of an operation, e.g. `/smrt.chat.v1.ChatService/SendMessage`.
    public static func methodName(_ operation: String) -> String { "/smrt.chat.v1.ChatService/\(operation)" }

    /// The canonical string that is signed.
    public static func canonical(
        method: String, tenantId: String, actorProfileId: String, requestId: String, timestampUnixMs: Int64,
        payload: Data
    ) -> String {
        let payloadHash = hex(SHA256.hash(data: payload))
        return "SMRTCHAT-HMAC-V1\n\(method)\n\(tenantId)\n\(actorProfileId)\n\(requestId)\n\(timestampUnixMs)\n\(payloadHash)"
    }

    /// HMAC-SHA256 of the canonical string with `secret`.
    public static func signature(
        secret: [UInt8], method: String, tenantId: String, actorProfileId: String, requestId: String,
        timestampUnixMs: Int64, payload: Data
    ) -> Data {
        let text = canonical(method: method, tenantId: tenantId, actorProfileId: actorProfileId, requestId: requestId,
                             timestampUnixMs: timestampUnixMs, payload: payload)
        let mac = HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: SymmetricKey(data: secret))
        return Data(mac)
    }

    /// Whether `signature` is the request's valid signature (constant-time comparison).
    public static func verify(_ request: Smrt_Chat_V1_RpcRequest, secret: [UInt8]) -> Bool {
        let text = canonical(method: request.method, tenantId: request.context.tenantID,
                             actorProfileId: request.context.actorProfileID, requestId: request.context.requestID,
                             timestampUnixMs: request.auth.timestampUnixMs, payload: request.payload)
        return HMAC<SHA256>.isValidAuthenticationCode(request.auth.signature, authenticating: Data(text.utf8),
                                                      using: SymmetricKey(data: secret))
    }

    /// Lowercase hex of bytes.
    public static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for b in bytes {
            out.append(hexDigits[Int(b >> 4)])
            out.append(hexDigits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Bytes of a hex string, or nil when it is not hex.
    public static func bytes(hex text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        for i in stride(from: 0, to: chars.count, by: 2) {
            guard let b = UInt8(String(decoding: chars[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(b)
        }
        return out
    }
}
