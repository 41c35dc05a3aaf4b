import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// `voltaic health`: exit 0 when the server's /health says ok within the timeout, 1 otherwise (a container's
/// HEALTHCHECK, with no curl in the image).
struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "health", abstract: "Check a running server's /health: exit 0 when it is ok, 1 when not.")

    @Option(help: "The health URL.") var url = "http://127.0.0.1:8180/health"
    @Option(help: "Seconds to wait for the answer.") var timeout: Double = 2

    func run() async throws {
        guard timeout > 0, timeout <= 60 else { throw ValidationError("--timeout is above 0 and at most 60 seconds") }
        let request = HTTPClientRequest(url: url)
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
            let body = try await response.body.collect(upTo: 64 * 1024)
            print(String(buffer: body))
            if response.status.code != 200 { throw ExitCode(1) }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            FileHandle.standardError.write(Data("unhealthy: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
