import Foundation
import CSMS
import OCPI
import Storage

/// The catalog's rows as OCPI objects: EVSE status from what the station reported (research §14.2).
///
/// `json` writes them straight from the stored JSON text, which the catalog service validated when it wrote
/// it: no decoding and re-encoding per object (a full pull of 50,000 EVSEs otherwise spends most of its time in
/// JSON coders). `location`/`evse` build the typed objects, for the admin API; the eMSP tests check the spliced
/// text field by field, nothing yet holds the two renderings equal.
enum LocationMapper {
    static func location(_ v: CatalogRepository.LocationView) throws -> Location {
        Location(site: try v.site, evses: try v.evses.map(evse), lastUpdated: v.lastUpdated)
    }

    static func evse(_ v: CatalogRepository.EVSEView) throws -> EVSE {
        EVSE(
            uid: v.uid, spec: try v.spec, status: status(v),
            connectors: try v.connectors.map { Connector(id: String($0.id), spec: try $0.spec, lastUpdated: $0.lastUpdated) },
            lastUpdated: v.lastUpdated
        )
    }

    // MARK: JSON text

    static func json(_ v: CatalogRepository.LocationView) -> String {
        var out = ""
        appendLocation(v, to: &out)
        return out
    }

    static func json(_ v: CatalogRepository.EVSEView) -> String {
        var out = ""
        appendEVSE(v, to: &out)
        return out
    }

    static func json(_ c: CatalogRepository.ConnectorView) -> String {
        var out = ""
        appendConnector(c, to: &out)
        return out
    }

    /// A JSON array of locations.
    static func json(_ list: [CatalogRepository.LocationView]) -> String {
        var out = "["
        for (i, v) in list.enumerated() {
            if i > 0 { out += "," }
            appendLocation(v, to: &out)
        }
        return out + "]"
    }

    static func appendLocation(_ v: CatalogRepository.LocationView, to out: inout String) {
        out += "{"
        appendMembers(of: v.body, to: &out)
        out += "\"evses\":["
        for (i, e) in v.evses.enumerated() {
            if i > 0 { out += "," }
            appendEVSE(e, to: &out)
        }
        out += "],\"last_updated\":\"\(v.lastUpdated.wire)\"}"
    }

    static func appendEVSE(_ e: CatalogRepository.EVSEView, to out: inout String) {
        out += "{\"uid\":"
        appendString(e.uid, to: &out)
        out += ","
        appendMembers(of: e.body, to: &out)
        out += "\"status\":\"\(status(e).rawValue)\",\"connectors\":["
        for (i, c) in e.connectors.enumerated() {
            if i > 0 { out += "," }
            appendConnector(c, to: &out)
        }
        out += "],\"last_updated\":\"\(e.lastUpdated.wire)\"}"
    }

    static func appendConnector(_ c: CatalogRepository.ConnectorView, to out: inout String) {
        out += "{\"id\":\"\(c.id)\","
        appendMembers(of: c.body, to: &out)
        out += "\"last_updated\":\"\(c.lastUpdated.wire)\"}"
    }

    /// The members of a stored JSON object (`{"a": 1, "b": 2}` gives `"a": 1, "b": 2,`), each followed by a
    /// comma; nothing for `{}`.
    static func appendMembers(of object: String, to out: inout String) {
        let inner = object.utf8.dropFirst().dropLast()
        guard inner.contains(where: { $0 != 0x20 }) else { return }
        out += String(Substring(inner))
        out += ","
    }

    /// A JSON string literal (uids are printable ASCII; quotes and backslashes are escaped all the same).
    static func appendString(_ s: String, to out: inout String) {
        out += "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where ch.value < 0x20: out += String(format: "\\u%04x", ch.value)
            default: out.unicodeScalars.append(ch)
            }
        }
        out += "\""
    }

    /// The status rule is the domain's (`EVSEStatusRule`); this only feeds it the stored inputs.
    static func status(_ v: CatalogRepository.EVSEView) -> EVSEStatus {
        EVSEStatusRule.status(
            removed: v.removed || v.stationDecommissioned, online: v.stationOnline, stationStatus: v.stationStatus,
            connectorStatuses: v.connectors.compactMap { v.connectorStatuses[$0.id] }
        )
    }
}
