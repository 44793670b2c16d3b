"""`--code-store s3://BUCKET?endpoint=URL`: code packages and layers kept in an S3-compatible store
(here another Lamina's bucket), sealed there, with the data directory as a cache: a server that lost
its cache fetches packages back from the store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.support.lambda_calls import create_function
from tests.support.server import ACCESS_KEY, SECRET_KEY, running_server

APP = {"app.py": "def handler(event, context):\n    return {'stored': 'remotely'}\n"}


def test_packages_live_in_the_code_store(tmp_path: Path) -> None:
    with running_server(tmp_path / "store", "--workers", "1") as store:
        s3 = store.client("s3")
        s3.create_bucket(Bucket="lamina-code")
        url = f"s3://lamina-code/packages?endpoint={store.endpoint}"
        env = {
            "LAMINA_CODE_STORE_ACCESS_KEY_ID": ACCESS_KEY,
            "LAMINA_CODE_STORE_SECRET_ACCESS_KEY": SECRET_KEY,
        }
        data_dir = tmp_path / "server"
        with running_server(data_dir, "--workers", "1", "--code-store", url, env=env) as server:
            client = server.client("lambda")
            create_function(client, "remote", APP)
            assert json.loads(client.invoke(FunctionName="remote")["Payload"].read()) == {
                "stored": "remotely"
            }
        stored = [item["Key"] for item in s3.list_objects_v2(Bucket="lamina-code")["Contents"]]
        assert len(stored) == 1 and stored[0].startswith("packages/") and stored[0].endswith(".blob")
        sealed = s3.get_object(Bucket="lamina-code", Key=stored[0])["Body"].read()
        assert b"def handler" not in sealed and b"app.py" not in sealed  # sealed, not in the clear
        # Without its cache the server reads the package back from the store.
        shutil.rmtree(data_dir / "blobs")
        shutil.rmtree(data_dir / "code", ignore_errors=True)
        with running_server(data_dir, "--workers", "1", "--code-store", url, env=env) as server:
            client = server.client("lambda")
            assert json.loads(client.invoke(FunctionName="remote")["Payload"].read()) == {
                "stored": "remotely"
            }
            assert client.get_function(FunctionName="remote")["Configuration"]["State"] == "Active"
