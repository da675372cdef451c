/* Validation (spec §5): arguments (5.4), values (5.6), directives (5.7) and variables (5.8). */
#include "test_validate.h"

/* ---------------------------------------------------------------- 5.4 arguments */

TEST(validate_argument_names)
{
    struct vt t;

    VALID("{ dog { doesKnowCommand(dogCommand: SIT) isHouseTrained(atOtherHomes: true) } }");
    VALID("{ dog { name @include(if: true) nickname @skip(if: false) } }");
    VALID("{ dog { isHouseTrained } }");
    EXPECT("{ dog { doesKnowCommand(command: CLEAN_UP_HOUSE, dogCommand: SIT) } }", 1,
           "Unknown argument \"command\" on field \"Dog.doesKnowCommand\"", 1, 25);
    EXPECT("{ dog { name @include(iff: true, if: true) } }", 1,
           "Unknown argument \"iff\" on directive \"@include\"", 1, 23);
    EXPECT("{ dog { name(x: 1) } }", 1, "\"x\"", 1, 14);
    vt_run(&t, "{ dog { doesKnowCommand(dogComand: SIT) } }");
    CHECK_UINT_EQ(t.n, 2);
    CHECK_ERR(ERROR_AT(&t, 0), "\"dogCommand\" of type \"DogCommand!\" is required", 0, 1, 9);
    CHECK_ERR(ERROR_AT(&t, 1),
              "Unknown argument \"dogComand\" on field \"Dog.doesKnowCommand\". Did you mean "
              "\"dogCommand\"?",
              0, 1, 25);
    vt_done(&t);
    /* an unknown field's arguments are not looked at, but their variables are */
    EXPECT("query Q($v: Int) { dog { unknown(x: $v) } }", 1, "has no field", 1, 26);
    EXPECT("{ dog { unknown(x: $v) } }", 2, "has no field", 1, 9);
}

TEST(validate_argument_uniqueness)
{
    struct vt t;

    VALID("{ dog { doesKnowCommand(dogCommand: SIT) } arguments { multipleRequirements(x: 1, "
          "y: 2) } }");
    vt_run(&t, "{ dog { doesKnowCommand(dogCommand: SIT, dogCommand: HEEL, dogCommand: DOWN) } }");
    CHECK_UINT_EQ(t.n, 1);
    CHECK_ERR(ERROR_AT(&t, 0), "argument name \"dogCommand\" is used more than once", 0, 1, 25);
    CHECK_ERR(ERROR_AT(&t, 0), NULL, 1, 1, 42);
    CHECK_ERR(ERROR_AT(&t, 0), NULL, 2, 1, 60);
    vt_done(&t);
    EXPECT("{ dog { name @include(if: true, if: false) } }", 1, "argument name \"if\" is used", 1,
           23);
    EXPECT("{ dog { unknown(a: 1, a: 2) } }", 2, "has no field", 1, 9);
}

TEST(validate_required_arguments)
{
    VALID("{ arguments { booleanArgField nonNullBooleanArgField(nonNullBooleanArg: true) } }");
    VALID("{ arguments { optionalNonNullBooleanArgField } }");
    VALID("{ complicatedArgs { nonNullFieldWithDefault multipleOpts } }");
    VALID("{ arguments { multipleRequirements(y: 1, x: 2) } }");
    EXPECT("{ arguments { nonNullBooleanArgField } }", 1,
           "Argument \"nonNullBooleanArg\" of type \"Boolean!\" is required on field "
           "\"Arguments.nonNullBooleanArgField\"",
           1, 15);
    EXPECT("{ arguments { multipleRequirements } }", 2, "\"x\"", 1, 15);
    EXPECT("{ arguments { multipleRequirements(x: 1) } }", 1, "\"y\"", 1, 15);
    /* a null given is a value of the wrong type (5.6.1), reported at the value */
    EXPECT("{ arguments { nonNullBooleanArgField(nonNullBooleanArg: null) } }", 1,
           "Expected a value of type \"Boolean!\", found null", 1, 57);
    EXPECT("{ dog { name @include } }", 1,
           "\"if\" of type \"Boolean!\" is required on directive "
           "\"@include\"",
           1, 14);
    EXPECT("{ dog { name @withArgs(opt: \"x\") } }", 1, "\"req\"", 1, 14);
}

/* ---------------------------------------------------------------- 5.6 values */

TEST(validate_values_of_correct_type)
{
    VALID("{ arguments { intArgField(intArg: 1) floatArgField(floatArg: 1) "
          "booleanArgField(booleanArg: null) } }");
    VALID("{ complicatedArgs { stringListArgField(stringListArg: \"one\") "
          "enumArgField(enumArg: BROWN) idArgField(idArg: 4) i2: idArgField(idArg: \"x\") "
          "floatArgField(floatArg: 1.5e3) stringListNonNullArgField(stringListNonNullArg: "
          "[\"a\", \"b\"]) } }");
    VALID("{ booleanList(booleanListArg: [true, null]) b: booleanList(booleanListArg: false) }");
    /* a custom scalar takes any literal */
    VALID("{ complicatedArgs { a: timeArgField(t: \"now\") b: timeArgField(t: [1, {x: ENUM}]) "
          "c: timeArgField(t: {at: 12, zone: \"UTC\"}) } }");
    /* its variables are typed as graphql-js types them */
    EXPECT("query Q($b: Boolean) { complicatedArgs { timeArgField(t: [$b]) } }", 1,
           "type \"Boolean\" is used where a value of type \"Time\"", 1, 9);
    EXPECT("{ arguments { intArgField(intArg: \"3\") } }", 1,
           "Expected a value of type \"Int\", found \"3\"", 1, 35);
    EXPECT("{ arguments { floatArgField(floatArg: true) } }", 1, "\"Float\", found true", 1, 39);
    EXPECT("{ complicatedArgs { enumArgField(enumArg: PURPLE) } }", 1, "\"FurColor\", found PURPLE",
           1, 43);
    EXPECT("{ complicatedArgs { enumArgField(enumArg: \"BROWN\") } }", 1, "\"FurColor\"", 1, 43);
    EXPECT("{ complicatedArgs { stringListArgField(stringListArg: [\"a\", 2, \"c\"]) } }", 1,
           "\"String\", found 2", 1, 61);
    EXPECT("{ arguments { intArgField(intArg: [1]) } }", 1, "\"Int\", found [1]", 1, 35);
    EXPECT("{ arguments { intArgField(intArg: {a: 1}) } }", 1, "\"Int\", found {", 1, 35);
    EXPECT("{ arguments { intArgField(intArg: 3000000000) } }", 1, "32-bit", 1, 35);
    EXPECT("{ complicatedArgs { stringListNonNullArgField(stringListNonNullArg: [\"a\", null]) } "
           "}",
           1, "\"String!\", found null", 1, 75);
    EXPECT("{ complicatedArgs { complexArgField(complexArg: 1) } }", 1, "\"ComplexInput\", found 1",
           1, 49);
    EXPECT("{ booleanList(booleanListArg: null) }", 1, "\"[Boolean]!\", found null", 1, 31);
}

TEST(validate_input_object_fields)
{
    struct vt t;

    VALID("{ complicatedArgs { complexArgField(complexArg: { requiredField: true, intField: 4, "
          "stringListField: [\"x\"] }) } }");
    /* 5.6.2 */
    EXPECT("{ complicatedArgs { complexArgField(complexArg: { requiredField: true, unknownField: "
           "1 }) } }",
           1, "Field \"unknownField\" is not defined by input type \"ComplexInput\"", 1, 72);
    EXPECT("{ complicatedArgs { complexArgField(complexArg: { requiredField: true, intFeld: "
           "1 }) } }",
           1, "Did you mean \"intField\"?", 1, 72);
    /* 5.6.3 */
    vt_run(&t, "{ complicatedArgs { complexArgField(complexArg: { requiredField: true,\n"
               "  requiredField: false }) } }");
    CHECK_UINT_EQ(t.n, 1);
    CHECK_ERR(ERROR_AT(&t, 0), "input field name \"requiredField\" is used more than once", 0, 1,
              51);
    CHECK_ERR(ERROR_AT(&t, 0), NULL, 1, 2, 3);
    vt_done(&t);
    /* names are unique in any object value, whether or not its type is known */
    EXPECT("{ dog { name(x: {a: 1, b: [{c: 1, c: 2}]}) } }", 2, "Unknown argument \"x\"", 1, 14);
    EXPECT("{ dog { unknown(x: {a: 1, a: 2}) } }", 2, "has no field", 1, 9);
    /* 5.6.4: nonNullField has a default, requiredField does not */
    EXPECT("{ complicatedArgs { complexArgField(complexArg: { intField: 4 }) } }", 1,
           "Field \"ComplexInput.requiredField\" of required type \"Boolean!\" was not given", 1,
           49);
    EXPECT("{ complicatedArgs { complexArgField(complexArg: { requiredField: null }) } }", 1,
           "\"Boolean!\", found null", 1, 66);
    EXPECT("{ complicatedArgs { complexArgField(complexArg: { requiredField: true, intField: "
           "\"no\" }) } }",
           1, "\"Int\", found \"no\"", 1, 82);
}

/* ---------------------------------------------------------------- 5.7 directives */

TEST(validate_directives_defined)
{
    VALID("query Q @onQuery { dog { name @onField @include(if: true) } }");
    EXPECT("{ dog { name @unknown } }", 1, "Unknown directive \"@unknown\"", 1, 14);
    EXPECT("{ dog { ...F @unknown(arg: 1) } } fragment F on Dog { name }", 1, "\"@unknown\"", 1,
           14);
}

TEST(validate_directives_in_valid_locations)
{
    VALID("query Q($v: Int @onVariable) @onQuery { arguments { intArgField(intArg: $v) @onField "
          "} }");
    VALID("{ dog { ...F @repeatable ... @repeatable { name } } } fragment F on Dog @withArgs(req: "
          "1) { name }");
    EXPECT("query Q @onField { dog { name } }", 1, "\"@onField\" may not be used on QUERY", 1, 9);
    EXPECT("{ dog { name @onQuery } }", 1, "may not be used on FIELD", 1, 14);
    EXPECT("mutation M @onQuery { mutateDog { name } }", 1, "on MUTATION", 1, 12);
    EXPECT("query Q($v: Int @onField) { arguments { intArgField(intArg: $v) } }", 1,
           "on VARIABLE_DEFINITION", 1, 17);
    EXPECT("{ dog { ...F } } fragment F on Dog @onField { name }", 1, "on FRAGMENT_DEFINITION", 1,
           36);
    EXPECT("{ dog { ...F @withArgs(req: 1) } } fragment F on Dog { name }", 1, "on FRAGMENT_SPREAD",
           1, 14);
}

TEST(validate_directives_unique_per_location)
{
    struct vt t;

    VALID("{ dog { name @onField nickname @onField } }");
    VALID("{ dog { name @repeatable @repeatable(n: 2) @include(if: true) } }");
    vt_run(&t, "{ dog { name @onField @onField @onField } }");
    CHECK_UINT_EQ(t.n, 2);
    CHECK_ERR(ERROR_AT(&t, 0), "\"@onField\" is not repeatable", 0, 1, 14);
    CHECK_ERR(ERROR_AT(&t, 0), NULL, 1, 1, 23);
    CHECK_ERR(ERROR_AT(&t, 1), NULL, 1, 1, 32);
    vt_done(&t);
    EXPECT("{ dog { name @skip(if: true) @skip(if: false) } }", 1, "\"@skip\"", 1, 14);
    /* unknown directives are only unknown */
    EXPECT("{ dog { name @nope @nope } }", 2, "Unknown directive", 1, 14);
}

/* ---------------------------------------------------------------- 5.8 variables */

TEST(validate_variable_uniqueness)
{
    struct vt t;

    VALID("query A($a: Int) { arguments { intArgField(intArg: $a) } } "
          "query B($a: Int) { arguments { intArgField(intArg: $a) } }");
    /* uses are checked against the last definition, as in graphql-js */
    vt_run(&t, "query Q($a: Int, $b: Int, $a: String) { arguments { intArgField(intArg: $a) "
               "b: intArgField(intArg: $b) } }");
    CHECK_UINT_EQ(t.n, 2);
    CHECK_ERR(ERROR_AT(&t, 1), "\"$a\" of type \"String\" is used where", 0, 1, 27);
    CHECK_ERR(ERROR_AT(&t, 0), "variable name \"$a\" is used more than once", 0, 1, 10);
    CHECK_ERR(ERROR_AT(&t, 0), NULL, 1, 1, 28);
    vt_done(&t);
}

TEST(validate_variables_are_input_types)
{
    struct vt t;

    VALID("query Q($a: String, $b: [Boolean!]!, $c: ComplexInput, $d: FurColor) { "
          "complicatedArgs { stringArgField(stringArg: $a) enumArgField(enumArg: $d) "
          "complexArgField(complexArg: $c) } booleanList(booleanListArg: $b) }");
    /* the type's place sorts after the unused variable's */
    vt_run(&t, "query Q($a: Dog) { dog { name } }");
    CHECK_UINT_EQ(t.n, 2);
    CHECK_ERR(ERROR_AT(&t, 0), "\"$a\" is never used", 0, 1, 9);
    CHECK_ERR(ERROR_AT(&t, 1),
              "Variable \"$a\" cannot be of type \"Dog\": variables take input "
              "types",
              0, 1, 13);
    vt_done(&t);
    vt_run(&t, "query Q($a: [[CatOrDog!]]!) { dog { name } }");
    CHECK_UINT_EQ(t.n, 2);
    CHECK_ERR(ERROR_AT(&t, 1), "type \"[[CatOrDog!]]!\"", 0, 1, 13);
    vt_done(&t);
    vt_run(&t, "query Q($a: [Unknown]) { dog { name } }");
    CHECK_UINT_EQ(t.n, 2);
    CHECK_ERR(ERROR_AT(&t, 1), "Unknown type \"Unknown\"", 0, 1, 14);
    vt_done(&t);
    /* graphql-js also finds the use misplaced */
    vt_run(&t, "query Q($a: Pet) { arguments { intArgField(intArg: $a) } }");
    CHECK_UINT_EQ(t.n, 2);
    CHECK_ERR(ERROR_AT(&t, 0), "cannot be of type \"Pet\"", 0, 1, 13);
    CHECK_ERR(ERROR_AT(&t, 1), "\"$a\" of type \"Pet\" is used where", 1, 1, 52);
    vt_done(&t);
}

TEST(validate_variable_default_values)
{
    VALID("query Q($a: Int = 1, $c: ComplexInput = {requiredField: true}, $l: [String] = \"x\") "
          "{ arguments { intArgField(intArg: $a) } complicatedArgs { complexArgField(complexArg: "
          "$c) stringListArgField(stringListArg: $l) } }");
    EXPECT("query Q($a: Int = \"one\") { arguments { intArgField(intArg: $a) } }", 1,
           "\"Int\", found \"one\"", 1, 19);
    EXPECT("query Q($a: Int! = null) { arguments { intArgField(intArg: $a) } }", 1,
           "\"Int!\", found null", 1, 20);
    EXPECT("query Q($c: ComplexInput = {intField: 3}) { complicatedArgs { "
           "complexArgField(complexArg: $c) } }",
           1, "\"ComplexInput.requiredField\"", 1, 28);
}

TEST(validate_variables_defined)
{
    struct vt t;

    VALID(
        "query Q($x: Int) { ...F } fragment F on Query { arguments { intArgField(intArg: $x) } }");
    vt_run(&t, "query Q {\n  arguments { intArgField(intArg: $undefined) } }");
    CHECK_UINT_EQ(t.n, 1);
    CHECK_ERR(ERROR_AT(&t, 0), "Variable \"$undefined\" is not defined by operation \"Q\"", 0, 2,
              35);
    CHECK_ERR(ERROR_AT(&t, 0), NULL, 1, 1, 1);
    vt_done(&t);
    /* through a fragment, once per operation that lacks it */
    vt_run(&t, "query A($x: Int) { ...F }\nquery B { ...F }\nquery C { ...F }\n"
               "fragment F on Query { arguments { intArgField(intArg: $x) } }");
    CHECK_UINT_EQ(t.n, 2);
    CHECK_ERR(ERROR_AT(&t, 0), "\"$x\" is not defined by operation \"B\"", 0, 4, 55);
    CHECK_ERR(ERROR_AT(&t, 0), NULL, 1, 2, 1);
    CHECK_ERR(ERROR_AT(&t, 1), "operation \"C\"", 1, 3, 1);
    vt_done(&t);
    EXPECT("{ arguments { intArgField(intArg: $x) } }", 1, "Variable \"$x\" is not defined:", 1,
           35);
    /* every place is reported, in directives and input objects too */
    EXPECT("query Q { dog { name @include(if: $b) nickname @skip(if: $b) } complicatedArgs { "
           "complexArgField(complexArg: {requiredField: $b}) } }",
           3, "\"$b\"", 1, 35);
}

TEST(validate_variables_used)
{
    VALID("query Q($b: Boolean!) { dog { name @include(if: $b) } }");
    VALID("query Q($x: Int) { ...F } fragment F on Query { ...G } fragment G on Query { "
          "arguments { intArgField(intArg: $x) } }");
    EXPECT("query Q($a: Int) { dog { name } }", 1,
           "Variable \"$a\" is never used in operation "
           "\"Q\"",
           1, 9);
    EXPECT("query Q($a: Int, $b: Int) { arguments { intArgField(intArg: $b) } }", 1, "\"$a\"", 1,
           9);
    EXPECT("query ($a: Int) { dog { name } }", 1, "\"$a\" is never used:", 1, 8);
    /* used by another operation only */
    EXPECT("query A($x: Int) { dog { name } } query B($x: Int) { ...F } fragment F on Query { "
           "arguments { intArgField(intArg: $x) } }",
           1, "operation \"A\"", 1, 9);
}

TEST(validate_variable_usage_allowed)
{
    struct vt t;

    VALID("query Q($i: Int!) { complicatedArgs { intArgField(intArg: $i) nonNullIntArgField("
          "nonNullIntArg: $i) } }");
    /* a nullable variable with a default, or a place with one, may go where non-null goes */
    VALID("query Q($i: Int = 1) { complicatedArgs { nonNullIntArgField(nonNullIntArg: $i) } }");
    VALID("query Q($i: Int) { complicatedArgs { nonNullFieldWithDefault(arg: $i) } }");
    VALID("query Q($b: Boolean) { complicatedArgs { complexArgField(complexArg: {requiredField: "
          "true, nonNullField: $b}) } }");
    VALID("query Q($s: String, $b: Boolean!) { complicatedArgs { stringListArgField("
          "stringListArg: [$s]) } booleanList(booleanListArg: [$b]) }");
    VALID("query Q($l: [String!]!) { complicatedArgs { stringListArgField(stringListArg: $l) } }");
    vt_run(&t, "query Q($intArg: Int) {\n  complicatedArgs { nonNullIntArgField(nonNullIntArg: "
               "$intArg) } }");
    CHECK_UINT_EQ(t.n, 1);
    CHECK_ERR(ERROR_AT(&t, 0),
              "Variable \"$intArg\" of type \"Int\" is used where a value of type \"Int!\"", 0, 1,
              9);
    CHECK_ERR(ERROR_AT(&t, 0), NULL, 1, 2, 55);
    vt_done(&t);
    EXPECT("query Q($i: Int = null) { complicatedArgs { nonNullIntArgField(nonNullIntArg: $i) } }",
           1, "\"Int!\"", 1, 9);
    EXPECT("query Q($s: String) { complicatedArgs { stringListArgField(stringListArg: $s) } }", 1,
           "of type \"String\" is used where a value of type \"[String]\"", 1, 9);
    EXPECT("query Q($l: [Boolean]) { booleanList(booleanListArg: $l) }", 1, "\"[Boolean]!\"", 1, 9);
    EXPECT("query Q($b: Boolean) { complicatedArgs { complexArgField(complexArg: {requiredField: "
           "$b}) } }",
           1, "\"Boolean!\"", 1, 9);
    EXPECT("query Q($b: Boolean) { dog { name @include(if: $b) } }", 1, "\"Boolean!\"", 1, 9);
    EXPECT("query Q($i: Int) { arguments { booleanArgField(booleanArg: $i) } }", 1,
           "type \"Int\" is used where a value of type \"Boolean\"", 1, 9);
    EXPECT("query Q($l: [String]) { complicatedArgs { stringListNonNullArgField("
           "stringListNonNullArg: $l) } }",
           1, "\"[String!]\"", 1, 9);
    /* through a fragment; a fragment used twice reports once per operation */
    EXPECT("query A($i: Int) { ...F } query B($i: Int!) { ...F } fragment F on Query { "
           "complicatedArgs { nonNullIntArgField(nonNullIntArg: $i) } }",
           1, "\"$i\"", 1, 9);
    /* every place of a repeated use is reported */
    EXPECT("query Q($i: Int) { complicatedArgs { a: nonNullIntArgField(nonNullIntArg: $i) "
           "b: nonNullIntArgField(nonNullIntArg: $i) } }",
           2, "\"$i\"", 1, 9);
}
