import ArgumentParser
import ChatAPI
import ChatClient
import Foundation

/// `smrt-chat`: the command-line client for people. Calls any operation of the service (`call`), has readable
/// subcommands for the common ones, and tails room or tenant events live (`tail`).
///
/// Exit status: 0 on success, 1 when a call fails (the server's status, a timeout or a transport error), 2 for
/// usage errors (bad arguments, missing credentials, a request that is not valid JSON).
@main
struct SmrtChat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smrt-chat",
        abstract: "Command-line client of the SmrtChat service: call any operation, tail events.",
        discussion: """
            Credentials and endpoints come from the options or the environment: SMRTCHAT_RPC, SMRTCHAT_EVENTS, \
            SMRTCHAT_KEY_ID, SMRTCHAT_SECRET (hex), SMRTCHAT_TENANT, SMRTCHAT_ACTOR, SMRTCHAT_TIMEOUT_MS.

            Every operation of chat.proto is reachable with 'smrt-chat call <Operation> [JSON]' \
            ('smrt-chat call --list'); the other subcommands print readable tables, or the response as JSON \
            with --json.

            Exit status: 0 success; 1 the call failed ('error: CODE REASON: message' on stderr); 2 usage error.
            """,
        subcommands: [
            Call.self, Health.self, Info.self,
            CreateRoom.self, Rooms.self, Room.self, Join.self, AddMember.self, Members.self,
            Send.self, Messages.self, Edit.self, Delete.self, Search.self, React.self, DM.self,
            Threads.self, Unread.self, Sessions.self, Pending.self, Approve.self, Reject.self, Export.self, Events.self, Tail.self,
        ])

    /// Runs the chosen subcommand and maps failures to the exit statuses above.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as RPCError {
            Output.error(Output.describe(error))
            Foundation.exit(1)
        } catch let error as CLIError {
            switch error {
            case .usage(let message):
                Output.error("error: \(message)\n" + "See 'smrt-chat --help'.")
                Foundation.exit(2)
            case .failure(let message):
                Output.error("error: \(message)")
                Foundation.exit(1)
            }
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                Output.error(fullMessage(for: error))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}

/// A failure the command reports itself.
enum CLIError: Error {
    /// Bad input: exit status 2.
    case usage(String)
    /// A failure other than an RPC status: exit status 1.
    case failure(String)
}

/// Endpoints, credentials and output options shared by every subcommand; each falls back to an environment
/// variable, then to a default.
struct GlobalOptions: ParsableArguments {
    @Option(help: "RPC endpoint(s), comma-separated (env SMRTCHAT_RPC; default tcp://127.0.0.1:7450).")
    var rpc: String?

    @Option(help: "Events PUB endpoint(s), comma-separated (env SMRTCHAT_EVENTS; default tcp://127.0.0.1:7451).")
    var events: String?

    @Option(name: .customLong("key-id"), help: "Service key id (env SMRTCHAT_KEY_ID).")
    var keyId: String?

    @Option(help: "Service key secret, hex (env SMRTCHAT_SECRET).")
    var secret: String?

    @Option(help: "Tenant of the calls (env SMRTCHAT_TENANT).")
    var tenant: String?

    @Option(help: "Profile the calls act for (env SMRTCHAT_ACTOR).")
    var actor: String?

    @Option(name: .customLong("timeout-ms"),
            help: "Per-call timeout in milliseconds (env SMRTCHAT_TIMEOUT_MS; default 5000).")
    var timeoutMs: Int?

    @Flag(help: "Print responses (and events) as JSON for machines instead of readable text.")
    var json = false

    private static func env(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }

    private static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    var rpcEndpoints: [String] { Self.list(rpc ?? Self.env("SMRTCHAT_RPC") ?? "tcp://127.0.0.1:7450") }
    var eventsEndpoints: [String] { Self.list(events ?? Self.env("SMRTCHAT_EVENTS") ?? "tcp://127.0.0.1:7451") }
    var resolvedTenant: String? { tenant ?? Self.env("SMRTCHAT_TENANT") }
    var resolvedActor: String? { actor ?? Self.env("SMRTCHAT_ACTOR") }

    /// The profile the calls act for; a usage error when none is configured.
    func requireActor() throws -> String {
        guard let actor = resolvedActor else { throw CLIError.usage("no actor: give --actor or set SMRTCHAT_ACTOR") }
        return actor
    }

    /// A client for these options. Without `signed`, credentials are optional (Health, ServerInfo).
    func client(signed: Bool = true) throws -> ChatClient {
        let keyId = self.keyId ?? Self.env("SMRTCHAT_KEY_ID")
        let secretHex = secret ?? Self.env("SMRTCHAT_SECRET")
        if signed {
            var missing: [String] = []
            if keyId == nil { missing.append("--key-id (SMRTCHAT_KEY_ID)") }
            if secretHex == nil { missing.append("--secret (SMRTCHAT_SECRET)") }
            if resolvedTenant == nil { missing.append("--tenant (SMRTCHAT_TENANT)") }
            if resolvedActor == nil { missing.append("--actor (SMRTCHAT_ACTOR)") }
            if !missing.isEmpty {
                throw CLIError.usage("this call needs credentials; missing " + missing.joined(separator: ", "))
            }
        }
        var secretBytes: [UInt8] = []
        if let secretHex {
            guard let bytes = RequestSigning.bytes(hex: secretHex) else {
                throw CLIError.usage("the secret is not hex")
            }
            secretBytes = bytes
        }
        guard !rpcEndpoints.isEmpty else { throw CLIError.usage("no RPC endpoint") }
        var configuration = ClientConfiguration(
            rpcEndpoints: rpcEndpoints, eventsEndpoints: eventsEndpoints, tenantId: resolvedTenant ?? "",
            actorProfileId: resolvedActor ?? "", keyId: signed || secretHex != nil ? keyId : nil,
            secret: secretBytes)
        let timeout = timeoutMs ?? Self.env("SMRTCHAT_TIMEOUT_MS").flatMap { Int($0) }
        if let timeout {
            guard timeout > 0 else { throw CLIError.usage("--timeout-ms must be positive") }
            configuration.timeoutMs = timeout
        }
        configuration.connections = 2
        do {
            return try ChatClient(configuration)
        } catch {
            throw CLIError.usage("cannot open the endpoints \(rpcEndpoints.joined(separator: ",")): \(error)")
        }
    }
}
