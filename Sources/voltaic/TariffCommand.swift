import ArgumentParser
import Foundation
import OCPI
import Settlement

struct TariffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tariff", abstract: "Work with OCPI tariffs.", subcommands: [Price.self, Put.self, List.self, Delete.self])

    struct Price: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Price a CDR's charging periods by a tariff, offline.",
            discussion: """
                Reads an OCPI 2.2.1 Tariff and an OCPI 2.2.1 CDR (its totals, if any, are ignored) and prints the \
                CDR's totals as one JSON object. A malformed file is named with the field at fault, exit code 2.
                """
        )

        @Option(help: "The OCPI 2.2.1 Tariff (JSON).") var tariff: String
        @Option(help: "The OCPI 2.2.1 CDR (JSON); its charging_periods carry the dimensions.") var cdr: String
        @Option(help: "The Location's IANA time zone, in which restriction times and dates are read.") var timeZone = "UTC"

        func run() async throws {
            guard let zone = TimeZone(identifier: timeZone) else { fail("--time-zone: \(timeZone) is not an IANA time zone") }
            let tariffValue: Tariff = read(tariff, as: Tariff.self)
            let usage: CDRUsage = read(cdr, as: CDRUsage.self)
            let totals: CDRTotals
            do {
                totals = try PricingEngine.price(usage, tariff: tariffValue, timeZone: zone)
            } catch {
                fail("\(cdr): \(OCPIFieldError.from(error))")
            }
            print(totals.orderedJSON)
        }

        private func read<T: Decodable>(_ path: String, as _: T.Type) -> T {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch { fail("cannot read \(path)") }
            do {
                return try JSONDecoder().decode(T.self, from: data)
            } catch {
                fail("\(path): \(OCPIFieldError.from(error))")
            }
        }

        private func fail(_ message: String) -> Never {
            FileHandle.standardError.write(Data("error: \(message)\n".utf8))
            Foundation.exit(2)
        }
    }
}
