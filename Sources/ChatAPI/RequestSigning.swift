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
        String(decoding: canonicalBytes(method: method, tenantId: tenantId, actorProfileId: actorProfileId,
                                        requestId: requestId, timestampUnixMs: timestampUnixMs, payload: payload),
               as: UTF8.self)
    }

    /// The canonical string's UTF-8 bytes, built in one buffer (no intermediate strings: building the string and
    /// converting it took a quarter of a signature check, perf of GetRoom).
    public static func canonicalBytes(
        method: String, tenantId: String, actorProfileId: String, requestId: String, timestampUnixMs: Int64,
        payload: Data
    ) -> [UInt8] {
        let timestamp = String(timestampUnixMs)  // at most 20 bytes: a small string, stored inline
        var out: [UInt8] = []
        out.reserveCapacity(version.count + method.utf8.count + tenantId.utf8.count + actorProfileId.utf8.count
                            + requestId.utf8.count + timestamp.utf8.count + 5 + 64)
        out.append(contentsOf: version)
        out.append(contentsOf: method.utf8)
        out.append(newline)
        out.append(contentsOf: tenantId.utf8)
        out.append(newline)
        out.append(contentsOf: actorProfileId.utf8)
        out.append(newline)
        out.append(contentsOf: requestId.utf8)
        out.append(newline)
        out.append(contentsOf: timestamp.utf8)
        out.append(newline)
        appendHex(SHA256.hash(data: payload), to: &out)
        return out
    }

    /// The canonical string's first line, with its newline.
    private static let version = Array("SMRTCHAT-HMAC-V1\n".utf8)
    private static let newline = UInt8(ascii: "\n")

    /// HMAC-SHA256 of the canonical string with `secret`.
    public static func signature(
        secret: [UInt8], method: String, tenantId: String, actorProfileId: String, requestId: String,
        timestampUnixMs: Int64, payload: Data
    ) -> Data {
        let bytes = canonicalBytes(method: method, tenantId: tenantId, actorProfileId: actorProfileId,
                                   requestId: requestId, timestampUnixMs: timestampUnixMs, payload: payload)
        return Data(HMAC<SHA256>.authenticationCode(for: bytes, using: SymmetricKey(data: secret)))
    }

    /// Whether `signature` is the request's valid signature (constant-time comparison).
    public static func verify(_ request: Smrt_Chat_V1_RpcRequest, secret: [UInt8]) -> Bool {
        verify(request, keyed: HMAC<SHA256>(key: SymmetricKey(data: secret)))
    }

    /// `verify` with an HMAC already keyed with the secret (a copy of it is used: setting up the key is a third of
    /// the check, so a server keeps one per key).
    public static func verify(_ request: Smrt_Chat_V1_RpcRequest, keyed: HMAC<SHA256>) -> Bool {
        var mac = keyed
        mac.update(data: canonicalBytes(method: request.method, tenantId: request.context.tenantID,
                                        actorProfileId: request.context.actorProfileID,
                                        requestId: request.context.requestID,
                                        timestampUnixMs: request.auth.timestampUnixMs, payload: request.payload))
        return mac.finalize().withUnsafeBytes { expected in
            request.auth.signature.withUnsafeBytes { given in equalInConstantTime(expected, given) }
        }
    }

    /// Whether two byte strings are equal, in a time that depends on their lengths only (a signature's length is
    /// public). `MessageAuthenticationCode`'s `==` does the same through generic collection code, which cost a
    /// tenth of the signature check.
    static func equalInConstantTime(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<a.count { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    /// Lowercase hex of bytes.
    public static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        appendHex(bytes, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private static func appendHex<S: Sequence>(_ bytes: S, to out: inout [UInt8]) where S.Element == UInt8 {
        for b in bytes {
            out.append(hexDigits[Int(b >> 4)])
            out.append(hexDigits[Int(b & 0x0f)])
        }
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
