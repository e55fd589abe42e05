// swift-tools-version:6.1
import PackageDescription

/// One set of Swift settings for every target: Swift 6 language mode, strict concurrency.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
]

let package = Package(
    name: "SmrtChat",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ChatCore", targets: ["ChatCore"]),
        .library(name: "ChatStore", targets: ["ChatStore"]),
        .library(name: "Nanomsg", targets: ["Nanomsg"]),
        .library(name: "ChatAPI", targets: ["ChatAPI"]),
        .library(name: "ChatServer", targets: ["ChatServer"]),
        .library(name: "ChatClient", targets: ["ChatClient"]),
        .executable(name: "smrt-chatd", targets: ["smrt-chatd"]),
        .executable(name: "smrt-chat", targets: ["smrt-chat"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
    ],
    targets: [
        .systemLibrary(name: "CNanomsg", pkgConfig: "nanomsg", providers: [.apt(["libnanomsg-dev"])]),
        .target(name: "Nanomsg", dependencies: ["CNanomsg"], swiftSettings: swiftSettings),
        .testTarget(name: "NanomsgTests", dependencies: ["Nanomsg"], swiftSettings: swiftSettings),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "ChatClient", "ChatAPI", "ChatServer", "ChatCore", "ChatStore", "Nanomsg",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ChatCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ChatSQL",
            dependencies: ["ChatCore", .product(name: "Metrics", package: "swift-metrics")],
            swiftSettings: swiftSettings
        ),
        // SQLite's WAL frames written together (see wal_coalesce.c); links the system libsqlite3, as GRDBSQLite does.
        .target(name: "CSQLiteWAL", linkerSettings: [.linkedLibrary("sqlite3")]),
        .target(
            name: "ChatStore",
            dependencies: [
                "ChatCore", "ChatSQL", "CSQLiteWAL",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ChatPostgres",
            dependencies: [
                "ChatCore", "ChatSQL",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ChatAPI",
            dependencies: [
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ChatServer",
            dependencies: [
                "ChatCore", "ChatAPI", "Nanomsg",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ChatClient",
            dependencies: ["ChatAPI", "Nanomsg"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "smrt-chatd",
            dependencies: [
                "ChatServer", "ChatStore", "ChatPostgres", "ChatCore", "ChatAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "smrt-chat",
            dependencies: [
                "ChatClient", "ChatAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "smrt-fuzz", dependencies: ["ChatServer", "ChatStore"], swiftSettings: swiftSettings),
        .testTarget(name: "FuzzRegressionTests", dependencies: ["ChatServer", "ChatStore"], swiftSettings: swiftSettings),
        .testTarget(name: "CLITests", dependencies: ["ChatClient", "ChatAPI"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ChatCoreTests",
            dependencies: ["ChatCore", "ChatSQL", "ChatStore", "CSQLiteWAL", .product(name: "GRDBSQLite", package: "GRDB.swift"),
                           .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
    ]
)
