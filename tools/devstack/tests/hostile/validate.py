"""Validates JSON bodies against schemas of the OpenAPI document.

Usage: validate.py OPENAPI CASES

CASES is a JSON file holding a list of {"schema": "<JSON pointer into OPENAPI>", "body": ...}.
Each body is checked (formats such as uuid and date-time included) against the schema the
pointer names, with the document's own $refs resolved. Prints every problem; exits 1 if any.
"""

import json
import sys

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

BASE = "urn:radar-bulk:openapi"


def main(openapi_path, cases_path):
    with open(openapi_path, encoding="utf-8") as file:
        document = yaml.safe_load(file)
    with open(cases_path, encoding="utf-8") as file:
        cases = json.load(file)
    resource = Resource(contents=document, specification=DRAFT202012)
    registry = Registry().with_resource(BASE, resource)
    problems = 0
    for number, case in enumerate(cases):
        validator = Draft202012Validator(
            {"$ref": BASE + case["schema"]},
            registry=registry,
            format_checker=FormatChecker(),
        )
        for error in validator.iter_errors(case["body"]):
            problems += 1
            where = "/".join(str(part) for part in error.absolute_path)
            print(f"body {number} against {case['schema']}: at /{where}: {error.message}")
    print(f"{len(cases)} bodies checked, {problems} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
