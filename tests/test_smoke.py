from tests.conftest import Tenant, create_dataset


def test_dataset_roundtrip(client, tenant: Tenant) -> None:
    ds = create_dataset(client, tenant.project_id)
    r = client.get(tenant.v2(f"/datasets/{ds}"))
    assert r.status_code == 200
    assert r.json()["dataset_name"] == "ds-1"
