import Crypto
import Foundation
import Synchronization

/// Deterministic identifiers shared with the original package and every client (SPEC §9).
public enum Identifiers {
    /// Namespace of client-request message ids (SPEC §9.2).
    static let clientRequestNamespace: [UInt8] = uuidBytes("b7e2f1c4-5a3d-4e8f-9b6a-2c1d0e9f8a7b")!

    /// The canonical DM room id of two profiles in a tenant (SPEC §9.1), whichever order they come in.
    public static func dmRoomId(tenantId: String, _ profileA: String, _ profileB: String) -> String {
        let (a, b) = Array(profileA.utf8).lexicographicallyPrecedes(Array(profileB.utf8))
            ? (profileA, profileB) : (profileB, profileA)
        let h = hex(Insecure.SHA1.hash(data: Data("dm \(tenantId) \(a) \(b)".utf8)))
        let chars = Array(h)
        func s(_ from: Int, _ to: Int) -> String { String(chars[from..<to]) }
        let variant = (UInt8(s(16, 18), radix: 16)! & 0x3f) | 0x80
        let xx = String(variant, radix: 16).leftPadded(to: 2)
        return "\(s(0, 8))-\(s(8, 12))-5\(s(13, 16))-\(xx)\(s(18, 20))-\(s(20, 32))"
    }

    /// The message id of a send with a client request id: UUIDv5 of a compact JSON array (SPEC §9.2).
    public static func clientRequestMessageId(
        tenantId: String, roomId: String, threadId: String?, actorProfileId: String, clientRequestId: String
    ) -> String {
        let parts: [String] = [
            jsonString("smrt-chat:client-request"), jsonString(tenantId), jsonString(roomId),
            threadId.map(jsonString) ?? "null", jsonString(actorProfileId), jsonString(clientRequestId),
        ]
        return uuidV5(namespace: clientRequestNamespace, name: Array("[\(parts.joined(separator: ","))]".utf8))
    }

    /// The profile an agent writes as when none is given (SPEC §12.6).
    public static func derivedAgentProfileId(agentId: String) -> String {
        let candidate = "agent:" + agentId
        if candidate.utf8.count <= 128 { return candidate }
        return "agent:" + hex(SHA256.hash(data: Data(agentId.utf8)))
    }

    /// A new time-ordered (version 7, RFC 9562) UUID, lowercase: 48 bits of Unix milliseconds, then 74
    /// random bits. Ids made later sort later, so primary-key inserts append to the index's last page
    /// instead of touching a random one (random keys halve batched insert speed on a large table).
    /// Randomness comes from the system's generator (`getrandom`), 4 KiB at a time (`RandomBytes`): two calls per
    /// id were a system call each, 3% of the writer thread's time per send outside SQLite. Foundation's `UUID()`
    /// opens /dev/urandom on every call.
    public static func newUUID(nowMs: Int64 = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))) -> String {
        let (high, low) = RandomBytes.shared.twoWords()
        let ms = UInt64(max(0, nowMs)) & 0xffff_ffff_ffff
        // time_hi.. | version 7 | 12 random bits
        let first = ms << 16 | 0x7000 | (high & 0x0fff)
        // variant 10 | 62 random bits
        let second = (low & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000
        return formatted(first, second)
    }

    /// The 8-4-4-4-12 lowercase text of 16 bytes.
    static func formatted(_ bytes: [UInt8]) -> String {
        precondition(bytes.count == 16)
        let word = { (at: Int) in bytes[at..<at + 8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
        return formatted(word(0), word(8))
    }

    /// The 8-4-4-4-12 lowercase text of the 16 bytes `first` and `second` hold (big-endian), written in place.
    static func formatted(_ first: UInt64, _ second: UInt64) -> String {
        String(unsafeUninitializedCapacity: 36) { out in
            var at = 0
            func put(_ word: UInt64, nibbles: Range<Int>) {
                for i in nibbles {
                    out[at] = hexDigits[Int(truncatingIfNeeded: word >> UInt64(60 - 4 * i)) & 0xf]
                    at += 1
                }
            }
            func dash() {
                out[at] = UInt8(ascii: "-")
                at += 1
            }
            put(first, nibbles: 0..<8); dash(); put(first, nibbles: 8..<12); dash(); put(first, nibbles: 12..<16); dash()
            put(second, nibbles: 0..<4); dash(); put(second, nibbles: 4..<16)
            return at
        }
    }

    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Lowercase hex of a digest or any byte sequence.
    public static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in bytes {
            out.append(hexDigits[Int(b >> 4)])
            out.append(hexDigits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// RFC 4122 version 5 UUID (SHA-1) of `name` in `namespace`, lowercase.
    static func uuidV5(namespace: [UInt8], name: [UInt8]) -> String {
        var bytes = Array(Insecure.SHA1.hash(data: namespace + name).prefix(16))
        bytes[6] = (bytes[6] & 0x0f) | 0x50
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        return formatted(bytes)
    }

    /// The 16 bytes of a textual UUID.
    static func uuidBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.replacingOccurrences(of: "-", with: "").utf8)
        guard digits.count == 32 else { return nil }
        var out = [UInt8]()
        for i in stride(from: 0, to: 32, by: 2) {
            guard let b = UInt8(String(decoding: digits[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(b)
        }
        return out
    }

    /// A JSON string literal as JavaScript's `JSON.stringify` writes it (SPEC §9.2): quotes, backslashes and
    /// control characters escaped; non-ASCII kept as itself.
    static func jsonString(_ s: String) -> String {
        var out = JSONText(capacity: s.utf8.count + 2)
        out.string(s)
        return out.text
    }
}

extension String {
    /// Left-pads with zeros to `width` characters.
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// Random bytes from the system's generator, drawn 4 KiB at a time and handed out in order, each byte once.
final class RandomBytes: Sendable {
    static let shared = RandomBytes()
    private struct Buffer {
        var bytes = [UInt8](repeating: 0, count: 4096)
        var used = 4096
    }
    private let buffer = Mutex(Buffer())

    /// Two random 64-bit words.
    func twoWords() -> (UInt64, UInt64) {
        buffer.withLock { b in
            if b.used + 16 > b.bytes.count {
                // One `getrandom` for the whole buffer (glibc's arc4random_buf).
                b.bytes.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }
                b.used = 0
            }
            defer { b.used += 16 }
            return b.bytes.withUnsafeBytes {
                ($0.loadUnaligned(fromByteOffset: b.used, as: UInt64.self),
                 $0.loadUnaligned(fromByteOffset: b.used + 8, as: UInt64.self))
            }
        }
    }
}
