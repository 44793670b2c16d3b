"""Mapping templates against the cases of API Gateway's mapping-template reference: the input,
util, context and stage variables, #set / #if / #foreach, and the console's "Method Request
passthrough" template."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lamina.apigateway.templates import InputVariable, InvalidBody, TemplateError, UtilVariable, render

PETS = '{"pets": [{"id": 1, "type": "dog", "price": 249.99}, {"id": 2, "type": "cat", "price": 124.99}], "name": "Fido"}'


def variables(body: str = PETS, **extra: Any) -> dict[str, Any]:
    input_variable = InputVariable(
        body, {"petId": "7"}, {"limit": "2", "q": "a b"}, {"Accept": "*/*", "X-Token": "t"}
    )
    context = {
        "httpMethod": "GET",
        "resourcePath": "/pets/{petId}",
        "stage": "prod",
        "requestId": "r-1",
        "identity": {"sourceIp": "10.0.0.1"},
        "authorizer": {"principalId": "user-1", "tier": "gold"},
    }
    return {"input": input_variable, "context": context, "stageVariables": {"version": "v2"}, **extra}


def test_input_params_by_name_look_in_path_then_query_then_headers() -> None:
    template = '{"pet": "$input.params(\'petId\')", "limit": "$input.params(\'limit\')", "token": "$input.params(\'x-token\')", "none": "$input.params(\'absent\')"}'
    assert json.loads(render(template, variables())) == {"pet": "7", "limit": "2", "token": "t", "none": ""}


def test_input_json_and_path() -> None:
    template = '{"first": $input.json(\'$.pets[0]\'), "name": "$input.path(\'$.name\')", "count": $input.path(\'$.pets\').size(), "types": $input.json(\'$.pets[*].type\')}'
    assert json.loads(render(template, variables())) == {
        "first": {"id": 1, "type": "dog", "price": 249.99},
        "name": "Fido",
        "count": 2,
        "types": ["dog", "cat"],
    }


def test_input_body_is_the_raw_body() -> None:
    assert render("$input.body", variables(body='{"a":  1}')) == '{"a":  1}'


def test_foreach_over_an_array_with_has_next() -> None:
    template = """#set($inputRoot = $input.path('$'))
[
#foreach($elem in $inputRoot.pets)
  {"id": $elem.id, "kind": "$elem.type"}#if($foreach.hasNext),#end
#end
]"""
    assert json.loads(render(template, variables())) == [{"id": 1, "kind": "dog"}, {"id": 2, "kind": "cat"}]


def test_the_method_request_passthrough_template() -> None:
    template = """#set($allParams = $input.params())
{
"body-json" : $input.json('$'),
"params" : {
#foreach($type in $allParams.keySet())
    #set($params = $allParams.get($type))
"$type" : {
    #foreach($paramName in $params.keySet())
    "$paramName" : "$util.escapeJavaScript($params.get($paramName))"
        #if($foreach.hasNext),#end
    #end
}
    #if($foreach.hasNext),#end
#end
},
"stage-variables" : {
#foreach($key in $stageVariables.keySet())
"$key" : "$util.escapeJavaScript($stageVariables.get($key))"
    #if($foreach.hasNext),#end
#end
},
"context" : {
    "http-method" : "$context.httpMethod",
    "source-ip" : "$context.identity.sourceIp",
    "stage" : "$context.stage",
    "resource-path" : "$context.resourcePath"
}
}"""
    rendered = json.loads(render(template, variables()))
    assert rendered["body-json"]["name"] == "Fido"
    assert rendered["params"] == {
        "path": {"petId": "7"},
        "querystring": {"limit": "2", "q": "a b"},
        "header": {"Accept": "*/*", "X-Token": "t"},
    }
    assert rendered["stage-variables"] == {"version": "v2"}
    assert rendered["context"] == {
        "http-method": "GET",
        "source-ip": "10.0.0.1",
        "stage": "prod",
        "resource-path": "/pets/{petId}",
    }


def test_if_else_and_set() -> None:
    template = '#set($limit = $input.params(\'limit\'))#if($limit == "2")two#elseif($limit == "3")three#{else}other#end'
    assert render(template, variables()) == "two"


def test_context_authorizer_and_quiet_references() -> None:
    assert (
        render(
            "$context.authorizer.principalId/$context.authorizer.tier/$!context.authorizer.missing.",
            variables(),
        )
        == "user-1/gold/."
    )


def test_util_functions() -> None:
    util = UtilVariable()
    assert util.escapeJavaScript('He said "it\'s"\n/') == 'He said \\"it\\\'s\\"\\n\\/'
    assert util.escapeJavaScript("é") == "\\u00E9"
    assert util.urlEncode("a b&c=d/é") == "a+b%26c%3Dd%2F%C3%A9"
    assert util.urlDecode("a+b%26c") == "a b&c"
    assert util.base64Encode("hello") == "aGVsbG8="
    assert util.base64Decode("aGVsbG8=") == "hello"
    assert render('$util.parseJson(\'{"a": {"b": 5}}\').a.b', variables()) == "5"


def test_a_body_that_is_not_json_cannot_be_read_as_json() -> None:
    with pytest.raises(InvalidBody, match="Could not parse request body into json"):
        render("$input.json('$')", variables(body="not json"))
    assert render("$input.body", variables(body="not json")) == "not json"


def test_an_empty_body_is_an_empty_object() -> None:
    assert render("$input.json('$')", variables(body="")) == "{}"


def test_a_bad_json_path_is_a_template_error() -> None:
    with pytest.raises(TemplateError):
        render("$input.json('pets')", variables())


def test_a_lone_surrogate_and_deep_nesting_do_not_break_templates() -> None:
    lone = variables(body='{"x": "\\ud800"}')
    assert render("$util.escapeJavaScript($input.path('$.x'))", lone) == "\\uD800"
    assert render("$input.json('$')", lone).encode("utf-8", "replace") == b'{"x":"?"}'
    with pytest.raises(InvalidBody, match="nested too deeply"):
        render("$input.json('$')", variables(body="[" * 5000 + "]" * 5000))
