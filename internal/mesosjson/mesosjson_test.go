package mesosjson

import (
	"errors"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

const (
	red   = protoreflect.EnumNumber(1)
	green = protoreflect.EnumNumber(2)
)

// defaults is what Mesos writes for an All with nothing set: the fields
// with an explicit default that are not deprecated.
const defaults = `"interval":15.0,"name":"x"`

func TestMarshalRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(t *testing.T, m protoreflect.Message)
		want  string
	}{
		{name: "nothing set: defaults of non-deprecated fields only", build: func(*testing.T, protoreflect.Message) {}, want: `{` + defaults + `}`},
		{name: "declaration order, not number order", build: func(t *testing.T, m protoreflect.Message) {
			set(t, m, "i32", int32(1))
			set(t, m, "first", "a")
		}, want: `{"first":"a","i32":1,` + defaults + `}`},
		{name: "a set field equal to its default is written once", build: func(t *testing.T, m protoreflect.Message) {
			set(t, m, "interval", 15.0)
		}, want: `{` + defaults + `}`},
		{name: "a set default field", build: func(t *testing.T, m protoreflect.Message) {
			set(t, m, "interval", 2.5)
			set(t, m, "name", "")
		}, want: `{"interval":2.5,"name":""}`},
		{name: "a deprecated field with a default is written when set", build: func(t *testing.T, m protoreflect.Message) {
			set(t, m, "old", false)
		}, want: `{` + defaults + `,"old":false}`},
		{name: "set zero values are written", build: func(t *testing.T, m protoreflect.Message) {
			set(t, m, "i32", int32(0))
			set(t, m, "s", "")
			set(t, m, "b", false)
			set(t, m, "by", []byte{})
			set(t, m, "color", protoreflect.EnumNumber(0))
			set(t, m, "d", 0.0)
		}, want: `{"i32":0,"d":0.0,"b":false,"s":"","by":"","color":"UNKNOWN",` + defaults + `}`},
		{name: "64-bit integers are numbers", build: func(t *testing.T, m protoreflect.Message) {
			set(t, m, "i64", int64(math.MinInt64))
			set(t, m, "u64", uint64(math.MaxUint64))
			set(t, m, "s64", int64(-5))
			set(t, m, "fx64", uint64(1)<<53+1)
			set(t, m, "sfx64", int64(math.MaxInt64))
		}, want: `{"i64":-9223372036854775808,"u64":18446744073709551615,` + defaults + `,"s64":-5,"fx64":9007199254740993,"sfx64":9223372036854775807}`},
		{name: "32-bit integers", build: func(t *testing.T, m protoreflect.Message) {
			set(t, m, "i32", int32(math.MinInt32))
			set(t, m, "u32", uint32(math.MaxUint32))
			set(t, m, "s32", int32(-1))
			set(t, m, "fx32", uint32(7))
			set(t, m, "sfx32", int32(-7))
		}, want: `{"i32":-2147483648,` + defaults + `,"u32":4294967295,"s32":-1,"fx32":7,"sfx32":-7}`},
		{name: "doubles always have a fraction or an exponent", build: func(t *testing.T, m protoreflect.Message) {
			set(t, m, "d", 1.0)
			set(t, m, "f", float32(0.1))
			add(t, m, "ds", 0.0, math.Copysign(0, -1), 1e21, 1.5e-7, 0.000001, 1e20, -2.5, math.Inf(1), math.Inf(-1))
		}, want: `{"d":1.0,"f":0.10000000149011612,` + defaults + `,"ds":[0.0,-0.0,1e21,1.5e-7,0.000001,100000000000000000000.0,-2.5,"Infinity","-Infinity"]}`},
		{name: "bytes are padded standard base64", build: func(t *testing.T, m protoreflect.Message) {
			set(t, m, "by", []byte{0xfb, 0xff})
			add(t, m, "bys", []byte("a"), []byte("ab"), []byte("abc"))
		}, want: `{"by":"+/8=",` + defaults + `,"bys":["YQ==","YWI=","YWJj"]}`},
		{name: "enums are names", build: func(t *testing.T, m protoreflect.Message) {
			set(t, m, "color", red)
			add(t, m, "colors", green, red)
		}, want: `{"color":"RED","colors":["GREEN","RED"],` + defaults + `}`},
		{name: "strings escape quote, backslash and control characters only", build: func(t *testing.T, m protoreflect.Message) {
			set(t, m, "s", "a\"b\\c/d\b\f\n\r\t\x00\x1f\x7f é \u2028 \xff")
		}, want: `{"s":"a\"b\\c/d\b\f\n\r\t\u0000\u001F` + "\x7f é \u2028 \xff" + `",` + defaults + `}`},
		{name: "nested and repeated messages", build: func(t *testing.T, m protoreflect.Message) {
			in := sub(t, m, "inner")
			set(t, in, "value", "v")
			set(t, in, "n", int32(3))
			addInner(t, m, "inners", "a")
			addInner(t, m, "inners", "b")
			add(t, m, "strs", "x", "y")
		}, want: `{"inner":{"value":"v","n":3},"inners":[{"value":"a"},{"value":"b"}],"strs":["x","y"],` + defaults + `}`},
		{name: "an unset required field is not written; nested defaults are", build: func(t *testing.T, m protoreflect.Message) {
			sub(t, m, "inner")
			sub(t, m, "sub")
		}, want: `{"inner":{},` + defaults + `,"sub":{"c":"GREEN"}}`},
		{name: "maps are objects with sorted keys", build: func(t *testing.T, m protoreflect.Message) {
			putMap(t, m, "counts", "b", int32(2))
			putMap(t, m, "counts", "a", int32(1))
			in := dynamicpb.NewMessage(innerDesc)
			set(t, in, "value", "ten")
			putMap(t, m, "by_id", int64(10), in)
			putMap(t, m, "by_id", int64(-2), dynamicpb.NewMessage(innerDesc))
			putMap(t, m, "by_id", int64(9), dynamicpb.NewMessage(innerDesc))
			putMap(t, m, "flags", true, "t")
			putMap(t, m, "flags", false, "f")
		}, want: `{` + defaults + `,"counts":{"a":1,"b":2},"by_id":{"-2":{},"9":{},"10":{"value":"ten"}},"flags":{"false":"f","true":"t"}}`},
		{name: "recursive", build: func(t *testing.T, m protoreflect.Message) {
			set(t, sub(t, sub(t, m, "next"), "next"), "i32", int32(1))
		}, want: `{` + defaults + `,"next":{` + defaults + `,"next":{"i32":1,` + defaults + `}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newAll()
			tc.build(t, m)
			got, err := Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestMarshalErrors(t *testing.T) {
	for _, tc := range []struct {
		name, field string
		build       func(t *testing.T, m protoreflect.Message)
	}{
		{name: "NaN", field: "ds[1]", build: func(t *testing.T, m protoreflect.Message) { add(t, m, "ds", 1.0, math.NaN()) }},
		{name: "NaN float", field: "next.f", build: func(t *testing.T, m protoreflect.Message) {
			set(t, sub(t, m, "next"), "f", float32(math.NaN()))
		}},
		{name: "enum number without a name", field: "color", build: func(t *testing.T, m protoreflect.Message) {
			set(t, m, "color", protoreflect.EnumNumber(7))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newAll()
			tc.build(t, m)
			_, err := Marshal(m)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Error(), "'"+tc.field+"'") {
				t.Errorf("got %v, want a FieldError naming %q", err, tc.field)
			}
		})
	}
}

func TestAppendDouble(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		want string
	}{
		{1, "1.0"}, {15, "15.0"}, {0, "0.0"}, {math.Copysign(0, -1), "-0.0"}, {0.5, "0.5"}, {0.1, "0.1"},
		{-0.1, "-0.1"}, {123.456, "123.456"}, {12345678.9, "12345678.9"}, {1e20, "100000000000000000000.0"},
		{1.5e20, "150000000000000000000.0"}, {1e21, "1e21"}, {1.25e22, "1.25e22"}, {1e100, "1e100"},
		{1e-6, "0.000001"}, {1.5e-6, "0.0000015"}, {1e-7, "1e-7"}, {1.5e-7, "1.5e-7"}, {-1.5e-10, "-1.5e-10"},
		{math.MaxFloat64, "1.7976931348623157e308"}, {5e-324, "5e-324"}, {math.MaxInt64, "9223372036854776000.0"},
		{0.30000000000000004, "0.30000000000000004"}, {math.Inf(1), `"Infinity"`}, {math.Inf(-1), `"-Infinity"`},
	} {
		if got := string(appendDouble(nil, tc.f)); got != tc.want {
			t.Errorf("appendDouble(%v) = %s, want %s", tc.f, got, tc.want)
		}
	}
}

func TestUnmarshalRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want func(t *testing.T, m protoreflect.Message)
	}{
		{name: "empty object", in: `{}`, want: func(*testing.T, protoreflect.Message) {}},
		{name: "whitespace around", in: " \t\n{ \"i32\" : 1 }\r\n ", want: func(t *testing.T, m protoreflect.Message) { set(t, m, "i32", int32(1)) }},
		{name: "unknown fields are ignored, whatever they hold", in: `{"nope":{"x":[1,"2",null]},"I32":5,"i32":1,"iNNers":7}`, want: func(t *testing.T, m protoreflect.Message) {
			set(t, m, "i32", int32(1))
		}},
		{name: "the last duplicate key wins", in: `{"i32":1,"i32":2}`, want: func(t *testing.T, m protoreflect.Message) { set(t, m, "i32", int32(2)) }},
		{name: "null is unset", in: `{"i32":null,"inner":null,"inners":null,"strs":[null,"a",null],"color":null}`, want: func(t *testing.T, m protoreflect.Message) {
			add(t, m, "strs", "a")
		}},
		{name: "every scalar kind", in: `{"i32":-1,"i64":-9223372036854775808,"u64":18446744073709551615,"d":2.5,"f":0.5,"b":true,"s":"é\u00e9\n","by":"+/8=","color":"RED","u32":4294967295,"s32":-3,"s64":-4,"fx32":5,"fx64":6,"sfx32":-7,"sfx64":-8}`,
			want: func(t *testing.T, m protoreflect.Message) {
				set(t, m, "i32", int32(-1))
				set(t, m, "i64", int64(math.MinInt64))
				set(t, m, "u64", uint64(math.MaxUint64))
				set(t, m, "d", 2.5)
				set(t, m, "f", float32(0.5))
				set(t, m, "b", true)
				set(t, m, "s", "éé\n")
				set(t, m, "by", []byte{0xfb, 0xff})
				set(t, m, "color", red)
				set(t, m, "u32", uint32(math.MaxUint32))
				set(t, m, "s32", int32(-3))
				set(t, m, "s64", int64(-4))
				set(t, m, "fx32", uint32(5))
				set(t, m, "fx64", uint64(6))
				set(t, m, "sfx32", int32(-7))
				set(t, m, "sfx64", int64(-8))
			}},
		{name: "numbers in strings", in: `{"i32":" 12 ","i64":"-9223372036854775808","u64":"18446744073709551615","d":"1e2","f":"-0.25","fx32":"7"}`, want: func(t *testing.T, m protoreflect.Message) {
			set(t, m, "i32", int32(12))
			set(t, m, "i64", int64(math.MinInt64))
			set(t, m, "u64", uint64(math.MaxUint64))
			set(t, m, "d", 100.0)
			set(t, m, "f", float32(-0.25))
			set(t, m, "fx32", uint32(7))
		}},
		{name: "fractions and exponents are truncated for integers", in: `{"i32":2.9,"i64":-2.9,"u32":1e3,"u64":"4.5","s32":-0.5}`, want: func(t *testing.T, m protoreflect.Message) {
			set(t, m, "i32", int32(2))
			set(t, m, "i64", int64(-2))
			set(t, m, "u32", uint32(1000))
			set(t, m, "u64", uint64(4))
			set(t, m, "s32", int32(0))
		}},
		{name: "integers for doubles", in: `{"d":3,"ds":[9007199254740993,-1,18446744073709551615]}`, want: func(t *testing.T, m protoreflect.Message) {
			set(t, m, "d", 3.0)
			add(t, m, "ds", 9007199254740992.0, -1.0, 18446744073709551616.0)
		}},
		{name: "infinities as strings", in: `{"d":"Infinity","f":"-Infinity"}`, want: func(t *testing.T, m protoreflect.Message) {
			set(t, m, "d", math.Inf(1))
			set(t, m, "f", float32(math.Inf(-1)))
		}},
		{name: "booleans in strings", in: `{"b":" false","old":"true"}`, want: func(t *testing.T, m protoreflect.Message) {
			set(t, m, "b", false)
			set(t, m, "old", true)
		}},
		{name: "an unknown enum name leaves an optional field unset and is skipped in a repeated one", in: `{"color":"BLUE","colors":["RED","BLUE","GREEN"]}`, want: func(t *testing.T, m protoreflect.Message) {
			add(t, m, "colors", red, green)
		}},
		{name: "lenient base64", in: `{"bys":["YQ","YQ==","Y Q\n=\"ignored","YWJjZA=junk","YWJjZ"]}`, want: func(t *testing.T, m protoreflect.Message) {
			add(t, m, "bys", []byte("a"), []byte("a"), []byte("a"), []byte("abcd"), []byte("abc"))
		}},
		{name: "a single value for a repeated field", in: `{"strs":"a","inners":{"value":"v"},"colors":"RED"}`, want: func(t *testing.T, m protoreflect.Message) {
			add(t, m, "strs", "a")
			addInner(t, m, "inners", "v")
			add(t, m, "colors", red)
		}},
		{name: "nested arrays flatten", in: `{"i64s":[[1,2],[],[[3]],4]}`, want: func(t *testing.T, m protoreflect.Message) {
			add(t, m, "i64s", int64(1), int64(2), int64(3), int64(4))
		}},
		{name: "nested messages", in: `{"inner":{"value":"v","n":2},"inners":[{"value":"a"},{"value":"b","n":1}],"sub":{"must":"RED"},"next":{"next":{"s":"deep"}}}`, want: func(t *testing.T, m protoreflect.Message) {
			in := sub(t, m, "inner")
			set(t, in, "value", "v")
			set(t, in, "n", int32(2))
			addInner(t, m, "inners", "a")
			set(t, addInner(t, m, "inners", "b"), "n", int32(1))
			set(t, sub(t, m, "sub"), "must", red)
			set(t, sub(t, sub(t, m, "next"), "next"), "s", "deep")
		}},
		{name: "maps", in: `{"counts":{"a":1,"b":"2","c":null},"by_id":{"-2":{"value":"x"}," 7 ":{"value":"y"}},"flags":{"true":"t","false":null}}`, want: func(t *testing.T, m protoreflect.Message) {
			putMap(t, m, "counts", "a", int32(1))
			putMap(t, m, "counts", "b", int32(2))
			putMap(t, m, "counts", "c", int32(0))
			in := dynamicpb.NewMessage(innerDesc)
			set(t, in, "value", "x")
			putMap(t, m, "by_id", int64(-2), in)
			in7 := dynamicpb.NewMessage(innerDesc)
			set(t, in7, "value", "y")
			putMap(t, m, "by_id", int64(7), in7)
			putMap(t, m, "flags", true, "t")
			putMap(t, m, "flags", false, "")
		}},
		{name: "a map given as an array of objects", in: `{"counts":[{"a":1},{"b":2}]}`, want: func(t *testing.T, m protoreflect.Message) {
			putMap(t, m, "counts", "a", int32(1))
			putMap(t, m, "counts", "b", int32(2))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := newAll()
			if err := Unmarshal([]byte(tc.in), got); err != nil {
				t.Fatal(err)
			}
			want := newAll()
			tc.want(t, want)
			if !proto.Equal(got, want) {
				gj, _ := Marshal(got)
				wj, _ := Marshal(want)
				t.Errorf("read %s\nwant %s", gj, wj)
			}
		})
	}
}

// TestUnmarshalUnsetDefault: a field with a default that the input does
// not give is unset after reading (only writing fills defaults in).
func TestUnmarshalUnsetDefault(t *testing.T) {
	m := newAll()
	if err := Unmarshal([]byte(`{"i32":1}`), m); err != nil {
		t.Fatal(err)
	}
	if m.Has(fieldOf(t, m, "interval")) || m.Get(fieldOf(t, m, "interval")).Float() != 15 {
		t.Error("interval should be unset, reading as its default 15")
	}
}

func TestUnmarshalClears(t *testing.T) {
	m := newAll()
	set(t, m, "s", "old")
	if err := Unmarshal([]byte(`{"i32":1}`), m); err != nil {
		t.Fatal(err)
	}
	if m.Has(fieldOf(t, m, "s")) {
		t.Error("a field set before Unmarshal survived it")
	}
	if err := Unmarshal([]byte(`{"s":"a","i32":"x"}`), m); err == nil {
		t.Fatal("a bad value was accepted")
	}
	if m.Has(fieldOf(t, m, "s")) || m.Has(fieldOf(t, m, "i32")) {
		t.Error("a refused input left fields set")
	}
}

func TestUnmarshalErrors(t *testing.T) {
	const (
		syntax  = "syntax"
		field   = "field"
		missing = "missing"
		other   = "other"
		large   = "large"
	)
	deep := strings.Repeat(`{"next":`, 200) + "{}" + strings.Repeat("}", 200)
	okDeep := strings.Repeat(`{"next":`, 199) + "{}" + strings.Repeat("}", 199)
	for _, tc := range []struct {
		in, kind, field, msg string
	}{
		{in: ``, kind: syntax},
		{in: `  `, kind: syntax},
		{in: `{`, kind: syntax},
		{in: `{"i32":1}x`, kind: syntax},
		{in: `{"i32":1} {}`, kind: syntax},
		{in: `{'i32':1}`, kind: syntax},
		{in: `{"i32":01}`, kind: syntax},
		{in: deep, kind: syntax, msg: "deeper than 200"},
		{in: `{"strs":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`, kind: syntax},
		{in: `[]`, kind: other, msg: "Expecting a JSON object"},
		{in: `"x"`, kind: other, msg: "Expecting a JSON object"},
		{in: `null`, kind: other, msg: "Expecting a JSON object"},
		{in: `{"i32":"x"}`, kind: field, field: "i32", msg: "Failed to parse 'x' as a JSON number for field 'i32'"},
		{in: `{"i32":"0x10"}`, kind: field, field: "i32"},
		{in: `{"i32":""}`, kind: field, field: "i32"},
		{in: `{"i32":true}`, kind: field, field: "i32", msg: "Not expecting a JSON boolean for field 'i32'"},
		{in: `{"i32":[1]}`, kind: field, field: "i32", msg: "Not expecting a JSON array for field 'i32'"},
		{in: `{"i32":{}}`, kind: field, field: "i32", msg: "Not expecting a JSON object for field 'i32'"},
		{in: `{"i32":2147483648}`, kind: field, field: "i32", msg: "out of range"},
		{in: `{"i32":-2147483649}`, kind: field, field: "i32", msg: "out of range"},
		{in: `{"i32":2147483648.5}`, kind: field, field: "i32", msg: "out of range"},
		{in: `{"i64":9223372036854775808}`, kind: field, field: "i64", msg: "out of range"},
		{in: `{"i64":9.3e18}`, kind: field, field: "i64", msg: "out of range"},
		{in: `{"u64":-1}`, kind: field, field: "u64", msg: "out of range"},
		{in: `{"u64":18446744073709551616}`, kind: field, field: "u64", msg: "out of range"},
		{in: `{"u32":4294967296}`, kind: field, field: "u32", msg: "out of range"},
		{in: `{"d":1e400}`, kind: field, field: "d", msg: "out of range"},
		{in: `{"f":1e39}`, kind: field, field: "f", msg: "out of range"},
		{in: `{"d":"NaN"}`, kind: field, field: "d"},
		{in: `{"d":"infinity"}`, kind: field, field: "d"},
		{in: `{"d":true}`, kind: field, field: "d"},
		{in: `{"b":1}`, kind: field, field: "b", msg: "Not expecting a JSON number for field 'b'"},
		{in: `{"b":"yes"}`, kind: field, field: "b", msg: "Failed to parse 'yes' as a JSON boolean for field 'b'"},
		{in: `{"s":1}`, kind: field, field: "s", msg: "Not expecting a JSON number for field 's'"},
		{in: `{"s":false}`, kind: field, field: "s"},
		{in: `{"by":"a-b"}`, kind: field, field: "by", msg: "Failed to base64 decode bytes field 'by': Invalid character '-'"},
		{in: `{"by":1}`, kind: field, field: "by"},
		{in: `{"color":1}`, kind: field, field: "color", msg: "Not expecting a JSON number for field 'color'"},
		{in: `{"inner":"x"}`, kind: field, field: "inner", msg: "Not expecting a JSON string for field 'inner'"},
		{in: `{"inner":[{}]}`, kind: field, field: "inner", msg: "Not expecting a JSON array for field 'inner'"},
		{in: `{"inner":{"n":"two"}}`, kind: field, field: "inner.n"},
		{in: `{"inners":[{"value":"a"},{"value":2}]}`, kind: field, field: "inners[1].value"},
		{in: `{"i64s":[1,"x"]}`, kind: field, field: "i64s[1]"},
		{in: `{"next":{"next":{"colors":[true]}}}`, kind: field, field: "next.next.colors[0]"},
		{in: `{"sub":{"must":"BLUE"}}`, kind: field, field: "sub.must", msg: "Failed to find enum for 'BLUE'"},
		{in: `{"counts":{"a":"x"}}`, kind: field, field: "counts[a]"},
		{in: `{"counts":{"a":[1]}}`, kind: field, field: "counts[a]"},
		{in: `{"by_id":{"x":{}}}`, kind: field, field: "by_id[x]"},
		{in: `{"by_id":{"1":{"value":true}}}`, kind: field, field: "by_id[1].value"},
		{in: `{"flags":{"maybe":"x"}}`, kind: field, field: "flags[maybe]"},
		{in: `{"counts":"x"}`, kind: field, field: "counts"},
		{in: `{"inner":{}}`, kind: missing, msg: "Missing required fields: inner.value"},
		{in: `{"inner":{"value":null}}`, kind: missing, msg: "Missing required fields: inner.value"},
		{in: `{"inners":[{"value":"a"},{}],"sub":{"must":null},"next":{"inner":{}},"inner":{},"by_id":{"3":{}}}`, kind: missing,
			msg: "Missing required fields: inner.value, inners[1].value, by_id[3].value, sub.must, next.inner.value"},
		{in: `{"by_id":{"7":null}}`, kind: missing, msg: "Missing required fields: by_id[7].value"},
		{in: okDeep, kind: ""},
		{in: `{"s":"` + strings.Repeat("x", DefaultMaxBytes) + `"}`, kind: large},
	} {
		name := tc.in
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			err := Unmarshal([]byte(tc.in), newAll())
			var (
				se *SyntaxError
				fe *FieldError
				me *MissingFieldsError
			)
			switch tc.kind {
			case "":
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			case syntax:
				if !errors.As(err, &se) {
					t.Fatalf("got %v, want a SyntaxError", err)
				}
			case field:
				if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(err.Error(), "'"+tc.field+"'") {
					t.Fatalf("got %v, want a FieldError naming %q", err, tc.field)
				}
			case missing:
				if !errors.As(err, &me) {
					t.Fatalf("got %v, want a MissingFieldsError", err)
				}
			case large:
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("got %v, want ErrTooLarge", err)
				}
			case other:
				if err == nil || errors.As(err, &se) || errors.As(err, &fe) || errors.As(err, &me) {
					t.Fatalf("got %v (%T), want a plain error", err, err)
				}
			}
			if tc.msg != "" && !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got %q, want it to contain %q", err, tc.msg)
			}
		})
	}
}

func TestUnmarshalOptions(t *testing.T) {
	in := []byte(`{"next":{"next":{}}}`)
	if err := (UnmarshalOptions{MaxDepth: 2}).Unmarshal(in, newAll()); err == nil {
		t.Error("depth 3 passed a limit of 2")
	}
	if err := (UnmarshalOptions{MaxDepth: 3}).Unmarshal(in, newAll()); err != nil {
		t.Errorf("depth 3 failed a limit of 3: %v", err)
	}
	if err := (UnmarshalOptions{MaxBytes: len(in) - 1}).Unmarshal(in, newAll()); !errors.Is(err, ErrTooLarge) {
		t.Errorf("got %v, want ErrTooLarge", err)
	}
	if err := (UnmarshalOptions{MaxBytes: len(in)}).Unmarshal(in, newAll()); err != nil {
		t.Errorf("an input at the size limit failed: %v", err)
	}
}

// full returns an All with every field set (defaults too), so that it
// reads back equal.
func full(t testing.TB) *dynamicpb.Message {
	m := newAll()
	set(t, m, "first", "first")
	set(t, m, "i32", int32(-5))
	set(t, m, "i64", int64(math.MinInt64))
	set(t, m, "u64", uint64(math.MaxUint64))
	set(t, m, "d", 0.1)
	set(t, m, "f", float32(1.1))
	set(t, m, "b", true)
	set(t, m, "s", "tab\t\"quote\" \x01 é")
	set(t, m, "by", []byte{0, 1, 2, 0xff})
	set(t, m, "color", green)
	set(t, sub(t, m, "inner"), "value", "in")
	addInner(t, m, "inners", "a")
	set(t, addInner(t, m, "inners", "b"), "n", int32(9))
	add(t, m, "strs", "", "x")
	add(t, m, "colors", red, protoreflect.EnumNumber(0))
	set(t, m, "interval", 15.0)
	set(t, m, "name", "n")
	set(t, m, "old", true)
	set(t, m, "u32", uint32(math.MaxUint32))
	set(t, m, "s32", int32(math.MinInt32))
	set(t, m, "s64", int64(math.MaxInt64))
	set(t, m, "fx32", uint32(1))
	set(t, m, "fx64", uint64(1)<<63)
	set(t, m, "sfx32", int32(-1))
	set(t, m, "sfx64", int64(-1))
	putMap(t, m, "counts", "k", int32(3))
	putMap(t, m, "by_id", int64(4), dynamicpb.NewMessage(innerDesc).ProtoReflect())
	set(t, m.Mutable(fieldOf(t, m, "by_id")).Map().Mutable(protoreflect.ValueOfInt64(4).MapKey()).Message(), "value", "four")
	add(t, m, "i64s", int64(1), int64(-1))
	add(t, m, "bys", []byte{}, []byte("x"))
	add(t, m, "ds", 1e-300, -1e300, 3.0, math.Inf(1))
	s := sub(t, m, "sub")
	set(t, s, "c", red)
	set(t, s, "must", green)
	putMap(t, m, "flags", true, "yes")
	n := sub(t, m, "next")
	set(t, n, "interval", 1.0)
	set(t, n, "name", "x")
	return m
}

func TestRoundTrip(t *testing.T) {
	m := full(t)
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	got := newAll()
	if err := Unmarshal(b, got); err != nil {
		t.Fatalf("reading back %s: %v", b, err)
	}
	if !proto.Equal(m, got) {
		again, _ := Marshal(got)
		t.Errorf("round trip changed the message:\n%s\n%s", b, again)
	}
	// A message with unset defaults reads back with them set, and then
	// writes the same.
	sparse := newAll()
	set(t, sparse, "s", "x")
	b, err = Marshal(sparse)
	if err != nil {
		t.Fatal(err)
	}
	back := newAll()
	if err := Unmarshal(b, back); err != nil {
		t.Fatal(err)
	}
	if b2, _ := Marshal(back); string(b2) != string(b) {
		t.Errorf("%s read back and written as %s", b, b2)
	}
	if !back.Has(fieldOf(t, back, "interval")) {
		t.Error("the written default did not read back as set")
	}
}

// FuzzUnmarshal: no input panics; an input larger than the limit is
// refused; what is accepted is written, and what is written reads back
// the same.
func FuzzUnmarshal(f *testing.F) {
	b, err := Marshal(full(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	for _, s := range []string{
		`{}`, `[]`, `{"i32":"12","d":"Infinity","strs":"a","i64s":[[1],[2]]}`, `{"inner":{}}`,
		`{"by_id":{"1":{"value":"x"}},"counts":{"a":"2"},"flags":{"true":"x"}}`,
		`{"by":"YW Jj=x","colors":["RED","NOPE"],"u64":1.8e19}`, `{"next":{"next":{"next":{}}}}`,
		`{"sub":{"must":"RED","c":null}}`, `{"f":3.5e38,"d":-0.0}`, "{\"s\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	const maxBytes = 4096
	opts := UnmarshalOptions{MaxBytes: maxBytes, MaxDepth: 20}
	f.Fuzz(func(t *testing.T, in []byte) {
		m := newAll()
		err := opts.Unmarshal(in, m)
		if len(in) > maxBytes {
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("%d bytes passed a limit of %d: %v", len(in), maxBytes, err)
			}
			return
		}
		if err != nil {
			return
		}
		out, err := Marshal(m)
		if err != nil {
			t.Fatalf("accepted %q but cannot write it: %v", in, err)
		}
		back := newAll()
		if err := Unmarshal(out, back); err != nil {
			t.Fatalf("wrote %s, which does not read back: %v", out, err)
		}
		again, err := Marshal(back)
		if err != nil || string(again) != string(out) {
			t.Fatalf("wrote %s, read back and wrote %s (%v)", out, again, err)
		}
	})
}
