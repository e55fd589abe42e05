import ChatCore
import ChatServer
import Foundation
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization

/// The metrics of this process in Prometheus's text format, `GET /metrics` on `metrics = HOST:PORT` (off when
/// empty). Bootstraps swift-metrics with swift-prometheus; process and storage gauges are sampled at each scrape.
/// Names and meanings: docs/metrics.md.
final class MetricsEndpoint: Service, CustomStringConvertible, Sendable {
    let registry = PrometheusCollectorRegistry()
    private let host: String
    private let port: Int
    let samplers: ProcessSamplers

    var description: String { "metrics" }

    /// Reads the publisher's subscriber count and the event log's bounds at each scrape:
    /// `smrtchat_pub_connections`, `smrtchat_event_log_head_id`, `smrtchat_event_log_first_id`.
    func observe(publisher: EventPublisher, storage: any ChatStorage) {
        let connections = registry.makeGauge(name: "smrtchat_pub_connections")
        let head = registry.makeGauge(name: "smrtchat_event_log_head_id")
        let first = registry.makeGauge(name: "smrtchat_event_log_first_id")
        samplers.add {
            if let n = publisher.connections { connections.set(Double(n)) }
            if let bounds = try? storage.read({ try $0.eventLogBounds() }) {
                first.set(Double(bounds.first))
                head.set(Double(bounds.last))
            }
        }
    }

    /// Parses `HOST:PORT` and makes this process's metrics go to the endpoint's registry.
    init(address: String, databaseFile: String?) throws {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
              (0...65_535).contains(port), colon > address.startIndex else {
            throw ConfigError("metrics: HOST:PORT, e.g. 127.0.0.1:9450 (empty turns it off)")
        }
        host = String(address[..<colon])
        self.port = port
        samplers = ProcessSamplers(registry: registry, databaseFile: databaseFile)
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(10),
        ]
        factory.defaultValueHistogramBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
        MetricsSystem.bootstrap(factory)
    }

    func run() async throws {
        let registry = self.registry
        let samplers = self.samplers
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(ScrapeHandler(registry: registry, samplers: samplers))
                }
            }
            .bind(host: host, port: port).get()
        try? await gracefulShutdown()
        try await channel.close()
    }
}

/// Answers one request per connection: `/metrics` with the registry's text, anything else 404.
private final class ScrapeHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    private let registry: PrometheusCollectorRegistry
    private let samplers: ProcessSamplers
    private var head: HTTPRequestHead?

    init(registry: PrometheusCollectorRegistry, samplers: ProcessSamplers) {
        self.registry = registry
        self.samplers = samplers
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request): head = request
        case .body: break
        case .end:
            let found = head?.method == .GET && head?.uri.split(separator: "?").first == "/metrics"
            var body: [UInt8] = []
            if found {
                samplers.sample()
                registry.emit(into: &body)
            } else {
                body = Array("not found: GET /metrics\n".utf8)
            }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain")
            headers.add(name: "Content-Length", value: String(body.count))
            headers.add(name: "Connection", value: "close")
            let version = head?.version ?? .http1_1
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: found ? .ok : .notFound,
                                                                 headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
        }
    }
}

/// Gauges read from /proc and the file system at each scrape: resident memory, CPU time, open descriptors,
/// and the SQLite database and WAL sizes.
final class ProcessSamplers: Sendable {
    private let resident: Prometheus.Gauge
    private let cpu: Prometheus.Gauge
    private let fds: Prometheus.Gauge
    private let database: Prometheus.Gauge?
    private let wal: Prometheus.Gauge?
    private let databaseFile: String?

    init(registry: PrometheusCollectorRegistry, databaseFile: String?) {
        resident = registry.makeGauge(name: "smrtchat_process_resident_memory_bytes")
        cpu = registry.makeGauge(name: "smrtchat_process_cpu_seconds")
        fds = registry.makeGauge(name: "smrtchat_process_open_fds")
        database = databaseFile.map { _ in registry.makeGauge(name: "smrtchat_database_bytes") }
        wal = databaseFile.map { _ in registry.makeGauge(name: "smrtchat_database_wal_bytes") }
        self.databaseFile = databaseFile
    }

    private let extra = Mutex<[@Sendable () -> Void]>([])

    /// Adds a reading taken at each scrape (the composition root's parts, once built).
    func add(_ sampler: @escaping @Sendable () -> Void) { extra.withLock { $0.append(sampler) } }

    func sample() {
        for sampler in extra.withLock({ $0 }) { sampler() }
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8).split(separator: " "),
           statm.count > 1, let pages = Double(statm[1]) {
            resident.set(pages * Double(sysconf(Int32(_SC_PAGESIZE))))
        }
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) {
                cpu.set((user + system) / Double(sysconf(Int32(_SC_CLK_TCK))))
            }
        }
        if let open = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") { fds.set(Double(open.count)) }
        if let databaseFile {
            database?.set(Self.size(databaseFile))
            wal?.set(Self.size(databaseFile + "-wal"))
        }
    }

    private static func size(_ path: String) -> Double {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.doubleValue ?? 0
    }
}
