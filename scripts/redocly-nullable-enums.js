// A Redocly CLI plugin (redocly.yaml): lint the examples with the reading
// of `nullable` that the server (kin-openapi), Prism and the code
// generators share: `nullable: true` admits null, even beside an `enum`.
//
// OpenAPI 3.0.3 says nullable does not extend an enum, so a strict
// validator (Redocly's) wants null listed in it; but Prism adds null to the
// enum of every nullable schema itself, and a second null makes the schema
// fail to compile (duplicate items), after which Prism validates nothing.
// openapi.yaml therefore keeps null out of every enum (see STACK.md,
// "Nullability across third-party tools"), and this preprocessor adds it
// back for the lint only, as Prism does, so that the doc's examples, which
// carry null where the server sends null, are still checked in full.
module.exports = function nullableEnums() {
  return {
    id: 'nullable-enums',
    preprocessors: {
      oas3: {
        'admit-null': () => ({
          Schema: {
            leave(schema) {
              if (schema.nullable === true && Array.isArray(schema.enum) && !schema.enum.includes(null)) {
                schema.enum = [...schema.enum, null];
              }
            },
          },
        }),
      },
    },
  };
};
