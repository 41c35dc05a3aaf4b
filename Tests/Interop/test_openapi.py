"""openapi/admin.yaml is a valid OpenAPI 3.1 document, and what the live API answers fits it."""
import os

from conftest import new_token
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

SPEC = os.path.join(os.path.dirname(__file__), "..", "..", "openapi", "admin.yaml")


def test_the_document_is_valid_openapi():
    spec, _ = read_from_filename(SPEC)
    validate(spec)


def test_live_responses_fit_the_documented_schemas(server, station):
    import jsonschema

    spec, _ = read_from_filename(SPEC)
    schemas = spec["components"]["schemas"]

    def check(name, instance):
        schema = {"$ref": f"#/components/schemas/{name}", "components": {"schemas": schemas}}
        jsonschema.validate(instance, schema, cls=jsonschema.Draft202012Validator)

    token = new_token(server)
    check("IdToken", server.api("GET", f"/tokens/{token}")[1])
    check("StationDetail", server.api("GET", f"/stations/{station}")[1])
    for item in server.api("GET", "/stations")[1]["items"]:
        check("StationView", item)
    for item in server.api("GET", "/transactions?limit=50")[1]["items"]:
        check("Transaction", item)
    status, problem = server.api("GET", "/stations/NOPE")
    assert status == 404
    check("Problem", problem)
