package register

import (
	"slices"
	"testing"

	"github.com/kontalk/xmppd/pkg/xml"
)

func TestParseForm(t *testing.T) {
	q := xml.MustParse(`<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>
		<field var='FORM_TYPE' type='hidden'><value>jabber:iq:register</value></field>
		<field var='phone' type='text-single'><value> +15555215554 </value></field>
		<field var='force' type='boolean'><value>1</value></field>
		<field var='fallback'><value>false</value></field>
		<field type='text-single'><value>no var</value></field>
		<field var='empty'/>
	</x></query>`, "jabber:client")
	f, ok := parseForm(q)
	if !ok {
		t.Fatal("no form")
	}
	if f.formType() != NS || f.value("phone") != "+15555215554" || !f.bool("force") || f.bool("fallback") || f.bool("missing") {
		t.Errorf("form %+v", f.fields)
	}
	if !f.has("empty") || f.value("empty") != "" || len(f.fields) != 5 {
		t.Errorf("fields %+v", f.fields)
	}
	if _, ok := parseForm(xml.MustParse(`<query xmlns='jabber:iq:register'/>`, "jabber:client")); ok {
		t.Error("form found in an empty query")
	}
}

// FuzzParseForm reads any element as a query; the fields it finds,
// written back as a form, read the same.
func FuzzParseForm(f *testing.F) {
	f.Add([]byte(`<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='phone'><value>+1555</value></field></x></query>`))
	f.Add([]byte(`<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data'><field var='a'><value>1</value><value>2</value></field><field var='a'/></x></query>`))
	f.Add([]byte(`<q><x xmlns='jabber:x:data'><field/><field var=''><value/></field></x></q>`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		el, err := xml.Parse(raw, xml.Scope{Default: "jabber:client"})
		if err != nil {
			return
		}
		form, ok := parseForm(el)
		if !ok {
			return
		}
		if len(form.fields) > maxFields {
			t.Fatalf("%d fields", len(form.fields))
		}
		x := xml.New("x", NSData)
		for name, values := range form.fields {
			if len(values) > maxFieldValues {
				t.Fatalf("%d values", len(values))
			}
			field(x, name, "text-multi", "", values...)
		}
		back, err := xml.Parse(xml.New("q", "").Append(x).AppendXML(nil), xml.Scope{Default: "jabber:client"})
		if err != nil {
			t.Fatalf("written form does not parse: %v", err)
		}
		again, ok := parseForm(back)
		if !ok || len(again.fields) != len(form.fields) {
			t.Fatalf("round trip: %v vs %v", again, form.fields)
		}
		for name, values := range form.fields {
			if !slices.Equal(again.fields[name], values) {
				t.Fatalf("field %q: %q vs %q", name, again.fields[name], values)
			}
		}
	})
}
