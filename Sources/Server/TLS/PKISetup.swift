import AsyncHTTPClient
import CSMS
import Foundation
import Logging
import PKI
import Storage
import X509

/// The certificate side of `voltaic serve`, from its settings: the station CA (or none), the contract roots and the
/// status sources, as the domain's `CertificatePort` and the certificate service's issuer.
struct PKISetup: Sendable {
    var issuer: (any StationCertificateIssuer)?
    var port: StationCertificates
    /// The manufacturer roots that firmware signing certificates must chain to.
    var firmwareRoots: [Certificate]

    static func load(_ config: ServerConfiguration, security: SecurityRepository, logger: Logger) throws -> PKISetup {
        let settings = config.certificates
        var issuer: (any StationCertificateIssuer)?
        switch (settings.caCertificateFile, settings.caKeyFile) {
        case (let certificate?, let key?):
            let ca = try StationCA.load(certificateFile: certificate, keyFile: key)
            logger.notice("station CA loaded", metadata: ["ca.subject": "\(ca.certificate.subject)", "ca.not_after": "\(ca.certificate.notValidAfter)"])
            issuer = LocalIssuer(ca: ca, days: settings.validityDays)
        case (nil, nil):
            issuer = nil
        default:
            throw PKIError("--station-ca-certificate and --station-ca-key go together")
        }
        var roots: [Certificate] = []
        for file in settings.contractRootFiles { roots += try certificates(pemFile: file) }
        let ocsp = settings.ocsp ? OCSPClient(http: .shared, timeout: settings.ocspTimeout, issuers: roots) : nil
        var sources: [any CertificateStatusSource] = [StatusListSource(repository: security, timeout: config.databaseTimeout)]
        if let ocsp { sources.append(OCSPStatusSource(client: ocsp)) }
        let contracts = ContractVerifier(certificates: roots, status: CombinedStatusSource(sources))
        var firmwareRoots: [Certificate] = []
        for file in settings.firmwareRootFiles { firmwareRoots += try certificates(pemFile: file) }
        var port = StationCertificates(issuer: issuer, organization: config.tls?.organization, contracts: contracts, ocsp: ocsp)
        port.pool = settings.contractPoolURL.map { ContractPool(url: $0, http: .shared, timeout: settings.ocspTimeout) }
        return PKISetup(issuer: issuer, port: port, firmwareRoots: firmwareRoots)
    }
}
