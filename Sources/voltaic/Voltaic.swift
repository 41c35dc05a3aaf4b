import ArgumentParser

@main
struct Voltaic: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "voltaic",
        abstract: "Voltaic: an OCPP 1.6 / 2.0.1 charge station management system on PostgreSQL.",
        subcommands: [Serve.self, Migrate.self, HealthCommand.self, StationCommand.self, TransactionCommand.self, TokenCommand.self, KeyCommand.self, DriverCommand.self, SettlementCommand.self, ReceiptCommand.self, ChainCommand.self, CACommand.self, TLSCommand.self, CertificateCommand.self, TariffCommand.self, LocationCommand.self, PartnerCommand.self, Bench.self]
    )
}
