#!/usr/bin/env python3
"""Each function's IAM permissions, as the template grants them once SAM has translated it.

Translates infra/template.yaml offline with aws-sam-translator (SAM's own translator, so the
roles SAM writes, the policies it attaches for event sources and the policy templates are all
there), then prints, per function, every statement of its role as JSON:

    {"ProcessorFunction": {"binary": "processor",
                           "statements": [{"actions": [...], "resources": [...],
                                           "leading_keys": ["BULK#*"] or null}],
                           "rare": ["sqs:SendMessage", ...]}}

Resources are logical ids (`RadarTable`, `ItemQueue`), `*`, or the text of an ARN that names
no resource of the template (log groups). AWS managed policies are expanded from the documented
statements below. `rare` lists the actions and leading-key patterns that the template marks with
a `# rare: <which path needs it>` comment on their line, in the function's block or its role's.

Usage: policies.py [TEMPLATE]   (run with the project's virtualenv, which has aws-sam-translator)
"""
import json
import os
import re
import sys

from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

# The AWS managed policies SAM attaches, as AWS documents them.
MANAGED = {
    "AWSLambdaBasicExecutionRole": [
        {"actions": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "resources": ["*"], "leading_keys": None},
    ],
    "AWSLambdaSQSQueueExecutionRole": [
        {"actions": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                     "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "resources": ["*"], "leading_keys": None},
    ],
}


class NoIam(ManagedPolicyLoader):
    """Managed policies are named by ARN in this template: nothing to look up in IAM."""

    def __init__(self):
        super().__init__(None)

    def load(self):
        return {}


def fail(message):
    sys.exit(f"policies.py: {message}")


def resource(value):
    """The logical id an IAM Resource names, `*`, or its text."""
    if value == "*":
        return "*"
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return target[0] if isinstance(target, list) else target.split(".")[0]
        if "Ref" in value:
            return value["Ref"]
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            names = [n.split(".")[0] for n in re.findall(r"\$\{([^}]+)\}", text)
                     if not n.startswith("AWS::")]
            return names[0] if len(names) == 1 and text.endswith("Arn}") else text
    if isinstance(value, str):
        return value
    fail(f"cannot read the resource {value!r}")


def listed(value):
    return value if isinstance(value, list) else [value]


def statement(raw):
    if raw.get("Effect") != "Allow":
        fail(f"only Allow statements are understood: {raw!r}")
    leading = None
    for operator, tests in (raw.get("Condition") or {}).items():
        for key, values in tests.items():
            if operator == "ForAllValues:StringLike" and key == "dynamodb:LeadingKeys":
                leading = listed(values)
            else:
                fail(f"condition {operator} {key} is not understood")
    return {
        "actions": listed(raw["Action"]),
        "resources": [resource(r) for r in listed(raw["Resource"])],
        "leading_keys": leading,
    }


def managed(arn):
    text = arn.get("Fn::Sub", "") if isinstance(arn, dict) else arn
    name = text.rsplit("/", 1)[-1]
    if name not in MANAGED:
        fail(f"managed policy {text} is not known here: add its statements to MANAGED")
    return MANAGED[name]


def rare_marks(text):
    """Per top-level resource: the actions and key patterns marked `# rare:` on their line."""
    marks, current = {}, None
    for line in text.splitlines():
        block = re.match(r"^  ([A-Za-z0-9]+):\s*$", line)
        if block:
            current = block.group(1)
        elif re.match(r"^\S", line):
            current = None
        if current and " # rare:" in line:
            code = line.split(" # rare:", 1)[0]
            found = re.findall(r"(?:dynamodb|sqs):[A-Za-z]+|[A-Z]+#\*", code)
            marks.setdefault(current, set()).update(found)
    return marks


def main():
    # The translator wants a region for its pseudo parameters; nothing is sent anywhere.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    path = sys.argv[1] if len(sys.argv) > 1 else "infra/template.yaml"
    text = open(path).read()
    template = yaml_parse(text)
    # `sam deploy` uploads the code and puts its S3 address here before SAM translates.
    for resource_ in template["Resources"].values():
        if resource_["Type"] == "AWS::Serverless::Function":
            resource_["Properties"]["CodeUri"] = "s3://code/bootstrap.zip"
    cfn = transform(template, {}, NoIam())
    resources = cfn["Resources"]
    marks = rare_marks(text)
    sam = yaml_parse(text)["Resources"]
    out = {}
    for name, function in resources.items():
        if function["Type"] != "AWS::Lambda::Function":
            continue
        role = resource(function["Properties"]["Role"])
        role_properties = resources[role]["Properties"]
        statements = []
        for policy in role_properties.get("Policies", []):
            statements += [statement(s) for s in listed(policy["PolicyDocument"]["Statement"])]
        for arn in role_properties.get("ManagedPolicyArns", []):
            statements += managed(arn)
        binary = sam[name].get("Metadata", {}).get("BuildProperties", {}).get("Binary", name)
        out[name] = {
            "binary": binary,
            "statements": statements,
            "rare": sorted(marks.get(name, set()) | marks.get(role, set())),
        }
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


main()
