// Package mesosjson writes and reads protobuf messages in the JSON form of
// Apache Mesos 1.x, which frameworks and executors written against the
// Mesos v1 HTTP APIs send and expect. It is not protojson (the proto3 JSON
// mapping): names, defaults, numbers and enums follow different rules.
// Marshal and Unmarshal work on any proto.Message through protoreflect.
//
// Each rule below says where in the Mesos repository it comes from.
//
// # Writing (Marshal)
//
// From 3rdparty/stout/include/stout/protobuf.hpp (the json() function for
// JSON::Protobuf, which src/common/http.cpp serialize() uses for every
// application/json response and RecordIO event), written through
// 3rdparty/stout/include/stout/jsonify.hpp with rapidjson 1.1.0 and the
// patch in 3rdparty/rapidjson-1.1.0.patch:
//
//   - A message is a JSON object. Keys are the proto field names as
//     declared (snake_case), never the camelCase json_name, in the order
//     the fields are declared in the .proto file (not by number).
//   - Written: a singular field that is set; a singular field that is not
//     set but has an explicit [default = ...] and is not deprecated, with
//     its default value; a repeated or map field with at least one
//     element. Nothing else: an unset field without a default, even a
//     required one, is left out, and an empty repeated field is left out.
//     Unknown fields and extensions are never written.
//   - Repeated fields are JSON arrays. Map fields are JSON objects whose
//     keys are the map keys as text (integers in decimal, bools as
//     true/false); the keys are written sorted, since a Go map has no
//     order (Mesos writes them in its hash map's order).
//   - Enums are written as the name of their value. A value without a name
//     (Go can hold one in a closed proto2 enum; C++ cannot) is an error.
//   - bytes are standard base64 with padding (RFC 4648 section 4).
//   - 32- and 64-bit integers, signed and unsigned, are JSON numbers in
//     decimal, never strings, whatever their size.
//   - bool is true or false.
//   - double and float are written as rapidjson writes a double (float is
//     widened to double first): always with a fraction or an exponent, so
//     1 is 1.0, 15 is 15.0, 0 is 0.0 and -0 is -0.0; plain decimal when
//     the number's decimal exponent is from -6 to 20 (0.000001,
//     100000000000000000000.0), otherwise d.ddde±x with no plus sign and
//     no leading zeros in the exponent (1e21, 1.5e-7). The digits are the
//     shortest that read back to the same double; rapidjson's Grisu2
//     sometimes gives a longer form of the same double.
//   - Infinity is written as the string "Infinity" or "-Infinity" (the
//     patched rapidjson). NaN, which Mesos writes as a bare NaN that no
//     JSON parser reads, is an error here.
//   - Strings are written as their bytes, with only '"', '\' and the
//     control characters below U+0020 escaped: \b, \t, \n, \f, \r, and
//     \u00XX with capital hex digits for the others. '/', U+007F, U+2028,
//     U+2029 and all other characters are written as they are, and bytes
//     that are not UTF-8 are passed through unchanged (rapidjson's writer
//     runs without validation).
//   - There is no whitespace between tokens.
//
// # Reading (Unmarshal)
//
// From protobuf::parse and its internal Parser in
// 3rdparty/stout/include/stout/protobuf.hpp, JSON::parse in
// 3rdparty/stout/include/stout/json.hpp (picojson), base64::decode in
// 3rdparty/stout/include/stout/base64.hpp, and deserialize() in
// src/common/http.hpp:
//
//   - The input is one JSON value, optionally surrounded by whitespace;
//     anything after it is an error. Objects and arrays nest at most 200
//     deep (stout's STOUT_JSON_MAX_DEPTH), which also bounds how deep
//     messages nest. Beyond Mesos, the input has a size limit
//     (UnmarshalOptions.MaxBytes).
//   - The value must be a JSON object ("Expecting a JSON object").
//   - The message is cleared first; the result is only the input.
//   - Keys are matched to fields by the exact proto field name. Unknown
//     keys are ignored, whatever their values.
//   - When a key appears twice in one object, the last one wins (stout
//     keeps an object's members in a std::map). The members are applied
//     in byte order of their keys, so the first error reported is that of
//     the first key in that order.
//   - null means "not set", for any field, also inside arrays.
//   - A JSON array is accepted for a repeated (or map) field only; each
//     element is applied in turn, so nested arrays are flattened. A single
//     value for a repeated field (not in an array) appends that one value.
//   - A JSON object is accepted for a message field only; for a singular
//     message field it is merged into the field, for a repeated one it
//     appends a message, and for a map field each member is an entry (the
//     key read as the key type's text, as below).
//   - string fields take JSON strings only; numbers and booleans are
//     refused.
//   - bytes fields take a base64 string, read leniently as stout does:
//     standard alphabet ('+' and '/'), padding optional, everything from
//     the first '=' on ignored, whitespace skipped, a dangling sixth bit
//     group ignored; any other character is an error.
//   - enum fields take the name of a value only; a number is refused. An
//     unknown name leaves an optional field unset (a message in a repeated
//     field is still added, without it) and is skipped in a repeated enum
//     field, but is an error for a required field.
//   - Integer fields (int32, int64, uint32, uint64, sint*, fixed*,
//     sfixed*) take a JSON number, or a string that holds one (with
//     surrounding whitespace allowed). A number with a fraction or an
//     exponent is truncated toward zero (2.9 is 2, 1e3 is 1000), as a C++
//     cast does. Beyond Mesos, which casts silently (wrapping, or
//     undefined behaviour), a value that is outside the field's range once
//     truncated, a negative one for an unsigned field included, is an
//     error; and a uint64 above 2^63-1 is read exactly where picojson goes
//     through a double.
//   - double and float fields take a JSON number, a string that holds one,
//     or the strings "Infinity" and "-Infinity". A number too large for a
//     double is an error ("Value out of range"), as is one too large for
//     a float in a float field (a C++ cast would be undefined). "NaN" is
//     refused.
//   - bool fields take true or false, or the strings "true" and "false"
//     (surrounding whitespace allowed); numbers are refused.
//   - After the whole object is applied, every required field, at any
//     depth, must be set; otherwise the error lists each missing one by
//     its path, in the order and form of protobuf's
//     FindInitializationErrors: this message's fields in declaration
//     order, then those inside its set message fields in number order,
//     elements by index and map values by key ("Missing required fields:
//     framework_info.user, tasks[0].name").
//   - Strings are JSON strings as RFC 8259 defines them; bytes that are
//     not UTF-8 are replaced by U+FFFD (picojson keeps them).
//
// Every error that concerns one field is a *FieldError naming the field by
// its full path (stout names only the last field name). An input that is
// not JSON, or nests too deep, gives a *SyntaxError.
//
// # What the HTTP APIs answer
//
// src/master/http.cpp (and the agent's executor endpoint, in
// src/slave/http.cpp) answer a body that cannot be read with 400 Bad
// Request: "Failed to parse body into JSON: <error>" when the body is not
// JSON (a *SyntaxError here), and "Failed to convert JSON into Call
// protobuf: <error>" when it is JSON that does not fit the message (every
// other error here); for application/x-protobuf, "Failed to parse body
// into Call protobuf".
package mesosjson
