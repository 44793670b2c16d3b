"""The blueprints and how a project is written from one.

Two kinds live here. `projects/<name>/` are whole projects: blueprint.json (description, language,
the function to invoke), template.yaml with `{{runtime}}` where the runtime goes, src/, events/.
`examples/<folder>/` are the classic examples (each deployable as it is, see their README); a
project is made from one by writing the template its example.json describes around its code.
The runtime is chosen when the project is written: the Python that runs Lamina, the Node.js on
PATH, so the project deploys on this machine without --runtime-fallback."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Blueprint",
    "FunctionCode",
    "blueprint",
    "blueprints",
    "function_code",
    "runtime_for",
    "write_project",
]

_HERE = Path(__file__).resolve().parent
PROJECTS = _HERE / "projects"
EXAMPLES = _HERE / "examples"
_EXAMPLE_FILES_KEPT_OUT = frozenset({"event.json", "example.json", "README.md"})
_DEFAULT_NODE = "nodejs20.x"


@dataclass(frozen=True)
class Blueprint:
    name: str
    description: str
    language: str  # python, nodejs or provided
    function: str  # the logical id of the function `lamina invoke` runs with the test event
    folder: Path
    classic: bool  # one of examples/: its template is written from example.json

    def template(self, runtime: str) -> str:
        """The project's template.yaml with `runtime` for its functions."""
        if self.classic:
            return _classic_template(self, runtime)
        return (self.folder / "template.yaml").read_text().replace("{{runtime}}", runtime)

    @property
    def triggers(self) -> str:
        """What starts the function, from its template (the list's last column)."""
        if self.classic:
            manifest = json.loads((self.folder / "example.json").read_text())
            if "s3" in manifest.get("needs", []):
                return "S3"
            return "function URL" if manifest.get("url") else "invoke"
        from cfn_flip import load_yaml

        document = load_yaml(self.template(runtime_for(self.language)))
        kinds = {
            str(event.get("Type"))
            for resource in document["Resources"].values()
            for event in ((resource.get("Properties") or {}).get("Events") or {}).values()
        }
        return ", ".join(sorted(kinds)) or "invoke"


_EVENT_KINDS = frozenset(
    {
        "Api",
        "HttpApi",
        "S3",
        "SQS",
        "SNS",
        "Schedule",
        "ScheduleV2",
        "EventBridgeRule",
        "CloudWatchLogs",
        "AlexaSkill",
    }
)


def _classic(folder: Path) -> Blueprint:
    manifest = json.loads((folder / "example.json").read_text())
    return Blueprint(
        name=str(manifest.get("blueprint") or folder.name),
        description=str(manifest["description"]),
        language=str(manifest["runtime"]),
        function="Function",
        folder=folder,
        classic=True,
    )


def _project(folder: Path) -> Blueprint:
    manifest = json.loads((folder / "blueprint.json").read_text())
    return Blueprint(
        name=folder.name,
        description=str(manifest["description"]),
        language=str(manifest["language"]),
        function=str(manifest["function"]),
        folder=folder,
        classic=False,
    )


@dataclass(frozen=True)
class FunctionCode:
    """A blueprint's function on its own (what the console creates): no template, no triggers."""

    handler: str
    files: dict[str, bytes]  # path in the package → content
    event: str  # its test event, JSON text
    executable: frozenset[str] = frozenset()  # paths with an execute bit (a custom runtime's bootstrap)


def _code_files(folder: Path, kept_out: frozenset[str] = frozenset()) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and path.relative_to(folder).as_posix() not in kept_out
        and "__pycache__" not in path.relative_to(folder).parts
    }


def _executable(folder: Path, files: dict[str, bytes]) -> frozenset[str]:
    return frozenset(path for path in files if (folder / path).stat().st_mode & 0o111)


def function_code(item: Blueprint) -> FunctionCode:
    if item.classic:
        manifest = json.loads((item.folder / "example.json").read_text())
        files = _code_files(item.folder, _EXAMPLE_FILES_KEPT_OUT)
        return FunctionCode(
            str(manifest["handler"]),
            files,
            (item.folder / "event.json").read_text(),
            _executable(item.folder, files),
        )
    from cfn_flip import load_yaml

    document = load_yaml(item.template(runtime_for(item.language)))
    properties = document["Resources"][item.function]["Properties"]
    code_folder = item.folder / str(properties.get("CodeUri", "src/")).strip("/")
    events = sorted((item.folder / "events").glob("*.json"))
    files = _code_files(code_folder)
    return FunctionCode(
        str(properties["Handler"]),
        files,
        events[0].read_text() if events else "{}",
        _executable(code_folder, files),
    )


def blueprints() -> list[Blueprint]:
    found = [_project(path.parent) for path in PROJECTS.glob("*/blueprint.json")]
    found += [_classic(path.parent) for path in EXAMPLES.glob("*/example.json")]
    return sorted(found, key=lambda item: item.name)


def blueprint(name: str) -> Blueprint | None:
    return next((item for item in blueprints() if item.name == name), None)


def _node_runtime() -> str:
    node = shutil.which("node")
    if node is None:
        return _DEFAULT_NODE
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return _DEFAULT_NODE
    match = re.match(r"v(\d+)\.", version.strip())
    return f"nodejs{match.group(1)}.x" if match else _DEFAULT_NODE


def runtime_for(language: str) -> str:
    if language == "python":
        return f"python{sys.version_info.major}.{sys.version_info.minor}"
    if language == "nodejs":
        return _node_runtime()
    return "provided.al2023"


def _classic_template(item: Blueprint, runtime: str) -> str:
    manifest = json.loads((item.folder / "example.json").read_text())
    lines = [
        "AWSTemplateFormatVersion: '2010-09-09'",
        "Transform: AWS::Serverless-2016-10-31",
        f"Description: {json.dumps(f'{item.name} - {item.description}')}",
        "Resources:",
    ]
    needs_bucket = "s3" in manifest.get("needs", [])
    if needs_bucket:
        lines += ["  Uploads:", "    Type: AWS::S3::Bucket"]
    lines += [
        "  Function:",
        "    Type: AWS::Serverless::Function",
        "    Properties:",
        "      CodeUri: src/",
        f"      Handler: {manifest['handler']}",
        f"      Runtime: {runtime}",
        "      Timeout: 10",
    ]
    if needs_bucket:
        # Read access to any bucket, as AWS's console blueprint grants: a !Ref to the bucket here
        # would be a cycle (the bucket's notification names the function).
        lines += [
            "      Policies:",
            "        - S3ReadPolicy: {BucketName: '*'}",
            "      Events:",
            "        Upload: {Type: S3, Properties: {Bucket: !Ref Uploads, Events: 's3:ObjectCreated:*'}}",
        ]
    if manifest.get("url"):
        lines += ["      FunctionUrlConfig:", "        AuthType: NONE"]
    lines += ["Outputs:", "  FunctionName:", "    Value: !Ref Function"]
    if needs_bucket:
        lines += ["  BucketName:", "    Value: !Ref Uploads"]
    if manifest.get("url"):
        lines += ["  FunctionUrl:", "    Value: !GetAtt FunctionUrl.FunctionUrl"]
    return "\n".join(lines) + "\n"


def _readme(item: Blueprint, directory: Path) -> str:
    return f"""# {directory.name}

{item.description}. Made from Lamina's `{item.name}` blueprint.

- `template.yaml`: the SAM template (the function `{item.function}` and what triggers it)
- `src/`: the function's code; a `requirements.txt` there is installed into the package on deploy
- `events/event.json`: a test event

With a server running (`lamina server`), from this folder:

```sh
lamina deploy                                   # the stack, named after this folder
lamina invoke {item.function} --event events/event.json   # run it with the test event
lamina dev                                      # redeploy the code on every save
```

The project is also a SAM project as it is: `sam build && sam deploy --guided` deploys it to
Lamina (with AWS_ENDPOINT_URL set by `eval "$(lamina env)"`) or to AWS.
"""


def write_project(item: Blueprint, directory: Path) -> list[Path]:
    """Write the project into `directory` (new, or empty); the files written."""
    if directory.exists() and any(directory.iterdir()):
        raise FileExistsError(f"{directory} exists and is not empty")
    runtime = runtime_for(item.language)
    source = directory / "src"
    source.mkdir(parents=True, exist_ok=True)
    (directory / "events").mkdir(exist_ok=True)
    if item.classic:
        for path in sorted(item.folder.rglob("*")):
            relative = path.relative_to(item.folder)
            if (
                path.is_file()
                and relative.as_posix() not in _EXAMPLE_FILES_KEPT_OUT
                and "__pycache__" not in relative.parts
            ):
                (source / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, source / relative)
        shutil.copy2(item.folder / "event.json", directory / "events" / "event.json")
        readme = (item.folder / "README.md").read_text().rstrip() + "\n\n" + _readme(item, directory)
    else:
        shutil.copytree(item.folder / "src", source, dirs_exist_ok=True)
        shutil.copytree(item.folder / "events", directory / "events", dirs_exist_ok=True)
        readme = _readme(item, directory)
    (directory / "template.yaml").write_text(item.template(runtime))
    (directory / "README.md").write_text(readme)
    return sorted(path for path in directory.rglob("*") if path.is_file())
