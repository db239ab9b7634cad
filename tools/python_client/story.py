"""An incident run through a client generated from aplomb's OpenAPI document.

    openapi-python-client generate --path openapi.json --meta none --output-path DIR/aplomb_client
    PYTHONPATH=DIR python3 story.py BASE_URL TOKEN RESPONDER

Declares an incident, makes RESPONDER its incident lead, posts a note and resolves it, each
through the generated code, and prints the incident's id. Exits non-zero at the first answer
that is not the documented success.
"""

import sys
from http import HTTPStatus

from aplomb_client import AuthenticatedClient
from aplomb_client.api.default import add_note, assign_role, declare, update_incident
from aplomb_client.models import (
    AssignRoleRole,
    DeclareRequest,
    IncidentStatusName,
    NoteRequest,
    PatchRequest,
    RoleRequest,
    SeverityName,
)


def expect(response, status):
    if response.status_code != status:
        sys.exit(f"expected {status}, got {response.status_code}: {response.content!r}")
    if response.parsed is None:
        sys.exit(f"the client could not read the answer: {response.content!r}")
    return response.parsed


def main(base_url, token, responder):
    client = AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)
    incident = expect(
        declare.sync_detailed(
            client=client,
            body=DeclareRequest(
                title="Checkout returns 502 for some users", severity=SeverityName.SEV2
            ),
        ),
        HTTPStatus.CREATED,
    )
    expect(
        assign_role.sync_detailed(
            incident.id,
            AssignRoleRole.INCIDENT_LEAD,
            client=client,
            body=RoleRequest(user=responder),
        ),
        HTTPStatus.OK,
    )
    expect(
        add_note.sync_detailed(
            incident.id,
            client=client,
            body=NoteRequest(text="Rolled back the 14:00 deploy; error rate falling"),
        ),
        HTTPStatus.CREATED,
    )
    resolved = expect(
        update_incident.sync_detailed(
            incident.id,
            client=client,
            body=PatchRequest(status=IncidentStatusName.RESOLVED),
        ),
        HTTPStatus.OK,
    )
    if resolved.status != IncidentStatusName.RESOLVED:
        sys.exit(f"the incident is {resolved.status}, not resolved")
    print(incident.id)


if __name__ == "__main__":
    main(*sys.argv[1:4])
