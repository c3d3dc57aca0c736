#!/usr/bin/env python3
"""Offline SAM -> CloudFormation transform of template.yaml (no AWS account, no network).

It does what `sam package` + the AWS::Serverless transform do, minus the uploads:
local paths (CodeUri, DefinitionUri, nested-stack Location) are checked to exist and then
replaced by placeholder S3 locations, and managed-policy names resolve through a static
map instead of iam:ListPolicies. Writes build/template.transformed.json.

Usage: sam_translate.py [template.yaml] [output.json]
"""
import json
import os
import sys

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

# The managed policies SAM itself attaches (basic execution, X-Ray, event-source pollers).
MANAGED_POLICIES = {
    name: f"arn:aws:iam::aws:policy/{path}{name}"
    for name, path in [
        ("AWSLambdaBasicExecutionRole", "service-role/"),
        ("AWSLambdaRole", "service-role/"),
        ("AWSLambdaSQSQueueExecutionRole", "service-role/"),
        ("AWSLambdaKinesisExecutionRole", "service-role/"),
        ("AWSLambdaDynamoDBExecutionRole", "service-role/"),
        ("AWSXrayWriteOnlyAccess", ""),
        ("AWSXRayDaemonWriteAccess", ""),
    ]
}


class StaticPolicyLoader:
    """Managed-policy loader that needs no AWS call."""

    def load(self):
        return dict(MANAGED_POLICIES)


def localize(template, base):
    """Replace local artifact paths with placeholder S3 locations, as `sam package` would."""
    problems = []
    for lid, res in template.get("Resources", {}).items():
        props = res.get("Properties") or {}
        typ = res.get("Type")
        if typ == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            path = os.path.join(base, props["CodeUri"])
            if not os.path.exists(path):
                problems.append(f"{lid}: CodeUri {props['CodeUri']} does not exist")
            props["CodeUri"] = f"s3://orderflow-validate/{lid}.zip"
        if typ == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
            path = os.path.join(base, props["DefinitionUri"])
            if not os.path.exists(path):
                problems.append(f"{lid}: DefinitionUri {props['DefinitionUri']} does not exist")
            else:
                with open(path) as f:
                    json.load(f)  # must be JSON
            props["DefinitionUri"] = f"s3://orderflow-validate/{lid}.asl.json"
        if typ == "AWS::Serverless::Application" and isinstance(props.get("Location"), str):
            loc = props["Location"]
            if not loc.startswith("https://"):
                if not os.path.exists(os.path.join(base, loc)):
                    problems.append(f"{lid}: Location {loc} does not exist")
                props["Location"] = f"https://orderflow-validate.s3.amazonaws.com/{loc}"
    return problems


def main(argv):
    src = argv[1] if len(argv) > 1 else "template.yaml"
    dst = argv[2] if len(argv) > 2 else "build/template.transformed.json"
    with open(src) as f:
        template = yaml_parse(f.read())
    problems = localize(template, os.path.dirname(os.path.abspath(src)))
    if problems:
        for p in problems:
            print(f"sam_translate: {p}", file=sys.stderr)
        return 1
    # The translator asks boto3 for a region even when AWS::Region is given; no call is made.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    params = {"AWS::Region": os.environ["AWS_DEFAULT_REGION"], "AWS::AccountId": "123456789012"}
    try:
        out = transform(template, params, StaticPolicyLoader())
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"sam_translate: {cause.message}", file=sys.stderr)
        return 1
    os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
    with open(dst, "w") as f:
        json.dump(out, f, indent=2, sort_keys=True)
    print(f"sam_translate: {src} -> {dst} ({len(out.get('Resources', {}))} resources)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
