/// Request checks shared by every operation (SPEC §2, §8, §12.8). Each failure is INVALID_ARGUMENT
/// VALIDATION naming the field.
enum Validate {
    /// A tenant, profile or agent id: 1–128 bytes of `[A-Za-z0-9._:@-]`.
    static func identifier(_ value: String, _ field: String) throws {
        let bytes = value.utf8
        guard !bytes.isEmpty else { throw ChatError.validation(field, "is required") }
        guard bytes.count <= 128 else { throw ChatError.validation(field, "is longer than 128 bytes") }
        for b in bytes where !isIdentifierByte(b) {
            throw ChatError.validation(field, "may contain only A-Z a-z 0-9 . _ : @ -")
        }
    }

    /// Whether `b` may appear in an identifier.
    static func isIdentifierByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"),
             UInt8(ascii: "@"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }

    /// A required reference to a server-made id (room, message, thread, session).
    static func reference(_ value: String, _ field: String) throws {
        guard !value.isEmpty else { throw ChatError.validation(field, "is required") }
        guard value.utf8.count <= 128 else { throw ChatError.validation(field, "is longer than 128 bytes") }
        try noNUL(value, field)
    }

    /// Text may not carry U+0000: PostgreSQL cannot store it in text or jsonb, and every engine answers alike.
    static func noNUL(_ value: String, _ field: String) throws {
        if value.utf8.contains(0) { throw ChatError.validation(field, "must not contain NUL (U+0000) characters") }
    }

    /// An optional reference: `""` counts as not given (SPEC §12.8).
    static func optionalReference(_ value: String?, _ field: String) throws -> String? {
        guard let value, !value.isEmpty else { return nil }
        try reference(value, field)
        return value
    }

    /// A text no longer than `max` bytes.
    static func text(_ value: String, _ field: String, max: Int, required: Bool = false) throws {
        if required && value.trimmingWhitespace.isEmpty { throw ChatError.validation(field, "is required") }
        guard value.utf8.count <= max else { throw ChatError.validation(field, "is longer than \(max) bytes") }
        try noNUL(value, field)
    }

    /// A JSON object no larger than `max` bytes; returns the text to store: the parser's compact output
    /// with sorted keys (`""` or nil → `{}`), so what is stored is exactly what was validated.
    static func jsonObject(_ value: String?, _ field: String, max: Int) throws -> String {
        JSONValue.object(try jsonObjectMembers(value, field, max: max)).text
    }

    /// `jsonObject`'s check, returning the object's members (none for `""` or nil).
    static func jsonObjectMembers(_ value: String?, _ field: String, max: Int) throws -> [String: JSONValue] {
        guard let value, !value.isEmpty else { return [:] }
        guard value.utf8.count <= max else { throw ChatError.validation(field, "is larger than \(max) bytes") }
        let parsed = try JSONValue.parse(value, field: field)
        guard case .object(let members) = parsed else { throw ChatError.validation(field, "must be a JSON object") }
        return members
    }

    /// Any JSON value (tool arguments and results); returns the text to store (the parser's output).
    static func json(_ value: String?, _ field: String, max: Int) throws -> String? {
        guard let value else { return nil }
        guard value.utf8.count <= max else { throw ChatError.validation(field, "is larger than \(max) bytes") }
        return try JSONValue.parse(value, field: field).text
    }

    /// A duration in seconds: 0 to `limits.maxDurationSeconds` (so millisecond arithmetic cannot overflow).
    static func duration(_ value: Int64, _ field: String, limits: ChatLimits) throws {
        guard value >= 0 else { throw ChatError.validation(field, "must not be negative") }
        guard value <= limits.maxDurationSeconds else {
            throw ChatError.validation(field, "must be at most \(limits.maxDurationSeconds) seconds (100 years)")
        }
    }

    /// A page size: 0 → default, above the maximum → the maximum is an error.
    static func pageSize(_ value: Int, limits: ChatLimits) throws -> Int {
        if value == 0 { return limits.defaultPageSize }
        guard value > 0 else { throw ChatError.validation("limit", "must not be negative") }
        guard value <= limits.maxPageSize else {
            throw ChatError.validation("limit", "must be at most \(limits.maxPageSize)")
        }
        return value
    }

    /// An emoji: non-empty, at most 64 bytes, no whitespace or control characters.
    static func emoji(_ value: String) throws {
        guard !value.isEmpty else { throw ChatError.validation("emoji", "is required") }
        guard value.utf8.count <= 64 else { throw ChatError.validation("emoji", "is longer than 64 bytes") }
        for scalar in value.unicodeScalars {
            let p = scalar.properties
            if p.isWhitespace || scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
                || p.generalCategory == .control || p.generalCategory == .lineSeparator
                || p.generalCategory == .paragraphSeparator {
                throw ChatError.validation("emoji", "must not contain whitespace or control characters")
            }
        }
    }
}

extension String {
    /// The string without leading and trailing whitespace (no Foundation needed).
    var trimmingWhitespace: Substring {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return Substring(scalars[first...last])
    }
}
