import ChatServer
import ChatStore
import Foundation

/// The fuzz targets of RELIABILITY.md, by name. `signed` runs signed call descriptions through the whole
/// server handler over a scratch SQLite database (FuzzEntryPoints+Signed.swift).
enum FuzzTarget: String, CaseIterable {
    case frame, cursor, json, allowlist, signed

    static let names = allCases.map(\.rawValue).joined(separator: ", ")

    /// The signed target runs over the SQLite engine (the composition root's choice, like smrt-chatd's).
    private static let engine: Void = FuzzEntryPoints.useStorage { path, logger in
        try SQLiteStorage(SQLiteConfiguration(path: path), logger: logger)
    }

    func run(_ bytes: [UInt8]) {
        _ = Self.engine
        switch self {
        case .frame: FuzzEntryPoints.frame(bytes)
        case .cursor: FuzzEntryPoints.cursor(bytes)
        case .json: FuzzEntryPoints.json(bytes)
        case .allowlist: FuzzEntryPoints.allowList(bytes)
        case .signed: FuzzEntryPoints.signed(bytes)
        }
    }

    /// The outcome line printed when replaying (targets that have one).
    func outcome(_ bytes: [UInt8]) -> String? {
        _ = Self.engine
        switch self {
        case .frame: return FuzzEntryPoints.frame(bytes)
        case .signed: return FuzzEntryPoints.signed(bytes)
        default: return nil
        }
    }
}

#if FUZZING
/// libFuzzer's driver (libclang_rt.fuzzer, linked by `-sanitize=fuzzer`). SwiftPM makes the executable's `main`
/// this module's entry point, so the fuzzing build keeps its own `main` and hands over to the driver.
@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

private let verbose = ProcessInfo.processInfo.environment["SMRTCHAT_FUZZ_VERBOSE"] == "1"

/// The target of this fuzzing process, from SMRTCHAT_FUZZ_TARGET.
private let selected: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["SMRTCHAT_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        FileHandle.standardError.write(Data("SMRTCHAT_FUZZ_TARGET must be one of \(FuzzTarget.names)\n".utf8))
        exit(2)
    }
    return target
}()

@main
struct SmrtFuzz {
    /// libFuzzer build (`make fuzz`): all arguments are libFuzzer's (corpus folders, -max_total_time=...).
    /// SMRTCHAT_FUZZ_VERBOSE=1 prints each input's outcome (frame, signed), e.g. when replaying files.
    static func main() {
        _ = selected
        _ = verbose
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
            if verbose, let outcome = selected.outcome(bytes) {
                print(outcome)
                fflush(nil)  // a finding ends the process without flushing stdout
            } else {
                selected.run(bytes)
            }
            return 0
        })
    }
}
#else
/// Normal build: replays inputs (files, or folders of files) through a target, e.g.
/// `smrt-fuzz frame fuzz/corpus/frame fuzz/regressions/frame`. With `frame` and `signed`, prints each outcome.
@main
struct SmrtFuzz {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let first = arguments.first, let target = FuzzTarget(rawValue: first) else {
            print("usage: smrt-fuzz \(FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")) FILE_OR_DIR...")
            exit(2)
        }
        var count = 0
        for path in arguments.dropFirst() {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            let files = isDirectory.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { "\(path)/\($0)" }
                : [path]
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                if let outcome = target.outcome(Array(data)) {
                    print("\(file): \(outcome)")
                } else {
                    target.run(Array(data))
                }
                count += 1
            }
        }
        print("replayed \(count) inputs through \(target.rawValue)")
    }
}
#endif
