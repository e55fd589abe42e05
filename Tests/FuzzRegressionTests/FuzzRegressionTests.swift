import ChatServer
import ChatStore
import Foundation
import Testing

/// The repository's `fuzz/` folder (seed corpus and the regression inputs of every crash or hang found).
private let fuzzRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("fuzz")

/// Every file of fuzz/corpus/<target> and fuzz/regressions/<target>, sorted.
private func inputs(_ target: String) -> [(name: String, bytes: [UInt8])] {
    ["corpus", "regressions"].flatMap { kind -> [(name: String, bytes: [UInt8])] in
        let dir = fuzzRoot.appendingPathComponent(kind).appendingPathComponent(target)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
        return names.compactMap { name in
            guard let data = FileManager.default.contents(atPath: dir.appendingPathComponent(name).path) else { return nil }
            return ("\(kind)/\(target)/\(name)", Array(data))
        }
    }
}

@Suite("Fuzz corpus and regressions replay through the fuzz entry points")
struct FuzzRegressionTests {
    init() {
        FuzzEntryPoints.useStorage { path, logger in try SQLiteStorage(SQLiteConfiguration(path: path), logger: logger) }
    }

    @Test("every committed input of each target runs without trapping",
          arguments: ["frame", "cursor", "json", "allowlist", "signed"])
    func replay(target: String) {
        let all = inputs(target)
        #expect(!all.isEmpty, "fuzz/corpus/\(target) holds seeds")
        for input in all {
            switch target {
            case "frame": FuzzEntryPoints.frame(input.bytes)
            case "cursor": FuzzEntryPoints.cursor(input.bytes)
            case "json": FuzzEntryPoints.json(input.bytes)
            // A finding may depend on what the inputs before it changed; each regression input also runs on a
            // fresh copy of the fixtures.
            case "signed" where input.name.hasPrefix("regressions/"):
                FuzzEntryPoints.signed(input.bytes)
                FuzzEntryPoints.signed(input.bytes, fresh: true)
            case "signed": FuzzEntryPoints.signed(input.bytes)
            default: FuzzEntryPoints.allowList(input.bytes)
            }
        }
    }

    /// The signed seeds named `valid-<Method>` describe a call of every method that the harness's fixtures let
    /// succeed, so the fuzzer starts from inputs that reach each operation's success path (through the whole
    /// handler: signature, key, replay cache, the operation, the commit).
    @Test("the signed seed corpus holds a valid description of every method, each answered OK on fresh fixtures")
    func validSignedSeeds() {
        let valid = inputs("signed").filter { $0.name.hasPrefix("corpus/signed/valid-") }
        let methods = FuzzEntryPoints.signedMethods.map { String($0.split(separator: "/").last ?? "") }
        #expect(methods.count >= 50)
        for method in methods {
            guard let seed = valid.first(where: { $0.name == "corpus/signed/valid-\(method)" }) else {
                Issue.record("no valid signed seed of \(method)")
                continue
            }
            #expect(FuzzEntryPoints.signedMethod(seed.bytes) == method, "\(seed.name) calls its method")
            let outcome = FuzzEntryPoints.signed(seed.bytes, fresh: true)
            #expect(outcome.hasSuffix("-> ok"), "\(seed.name): \(outcome)")
        }
    }

    /// The frame seeds named `valid-<Method>` are correctly signed frames of every method: they pass the whole gate,
    /// so the fuzzer starts from inputs that reach payload decoding and the signature check.
    @Test("the seed corpus holds a valid signed frame of every method, and they pass the gate")
    func validFrameSeeds() throws {
        let valid = inputs("frame").filter { $0.name.hasPrefix("corpus/frame/valid-") }
        let proto = try String(contentsOf: fuzzRoot.deletingLastPathComponent()
            .appendingPathComponent("proto/smrt/chat/v1/chat.proto"), encoding: .utf8)
        let methods = proto.split(separator: "\n").compactMap { line -> String? in
            let words = line.split(separator: " ")
            guard words.first == "rpc", words.count > 1 else { return nil }
            return String(words[1].prefix { $0 != "(" })
        }
        #expect(methods.count >= 50)
        for method in methods {
            #expect(valid.contains { $0.name == "corpus/frame/valid-\(method)" }, "a valid seed of \(method)")
        }
        // Health and ServerInfo are answered before the gate (RequestHandler), so the gate does not know them.
        for input in valid {
            let outside = input.name.hasSuffix("-Health") || input.name.hasSuffix("-ServerInfo")
            #expect(FuzzEntryPoints.frame(input.bytes) == (outside ? "UNIMPLEMENTED" : "OK"), "\(input.name)")
        }
    }
}
