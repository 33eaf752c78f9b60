package yamledit

import (
	"bytes"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// mapping splices a block mapping: deleted entries lose their lines, kept
// ones are compared further, new ones are inserted after the kept entry
// they follow.
func (s *splicer) mapping(w, o *yaml.Node) error {
	if len(w.Content) == 0 {
		return errReplace // an empty block mapping cannot be written: {}
	}
	index := map[*yaml.Node]int{}
	for i := 0; i+1 < len(o.Content); i += 2 {
		index[o.Content[i]] = i / 2
	}
	used := make([]bool, len(o.Content)/2)
	last := -1
	for j := 0; j+1 < len(w.Content); j += 2 {
		i, ok := index[s.corr[w.Content[j]]]
		if !ok {
			continue
		}
		if i <= last || w.Content[j].Value != o.Content[2*i].Value {
			return errReplace // reordered or renamed keys
		}
		last, used[i] = i, true
	}
	for i, u := range used {
		if !u {
			if err := s.deleteEntry(o, i); err != nil {
				return err
			}
		}
	}
	anchor := -1
	for j := 0; j+1 < len(w.Content); j += 2 {
		wk, wv := w.Content[j], w.Content[j+1]
		i, ok := index[s.corr[wk]]
		if !ok {
			at := anchor
			if at < 0 {
				at = len(used) - 1 // order does not change a mapping's meaning
			}
			if err := s.insertEntry(o, at, wk, wv); err != nil {
				return err
			}
			continue
		}
		anchor = i
		ov := o.Content[2*i+1]
		err := errReplace
		if s.corr[wv] == ov {
			err = s.try(func() error { return s.node(wv, ov) })
		}
		if err == errReplace {
			err = s.replaceEntry(o, i, wk, wv)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// entryEnd is the offset after entry i of o, trailing blank lines and
// shallower comments left to what follows; tail is what was left.
func (s *splicer) entryEnd(o *yaml.Node, i int) (end int, tail []byte) {
	k, v := o.Content[2*i], o.Content[2*i+1]
	last := s.end[v]
	trimmed := s.l.trimTail(last, k.Line, k.Column-1)
	return s.l.start(trimmed), s.l.src[s.l.start(trimmed):s.l.start(last)]
}

func (s *splicer) deleteEntry(o *yaml.Node, i int) error {
	k := o.Content[2*i]
	off := s.l.offset(k.Line, k.Column)
	if off < 0 || !s.l.onlySpaceBefore(k.Line, off) {
		return errReplace // the first key after a list dash
	}
	first := k.Line
	for k.HeadComment != "" && first > 1 && s.l.comment(first-1) && s.l.indent(first-1) == k.Column-1 {
		first--
	}
	end, _ := s.entryEnd(o, i)
	s.emit(s.l.start(first), end, "")
	return nil
}

func (s *splicer) replaceEntry(o *yaml.Node, i int, wk, wv *yaml.Node) error {
	k := o.Content[2*i]
	off := s.l.offset(k.Line, k.Column)
	if off < 0 {
		return errReplace
	}
	end, tail := s.entryEnd(o, i)
	kc, vc := fresh(wk), fresh(wv)
	kc.HeadComment = "" // those lines stay above the entry
	if vc.Kind != yaml.ScalarNode && vc.LineComment != "" && kc.LineComment == "" {
		// A block value cannot carry a comment on the key's line; the key can.
		kc.LineComment, vc.LineComment = vc.LineComment, ""
	}
	dropFootComments(vc, tail)
	dropFootComments(kc, tail)
	text, err := s.lay.entry(kc, vc, k.Column-1, true)
	if err != nil {
		return err
	}
	s.emit(off, end, text)
	return nil
}

func (s *splicer) insertEntry(o *yaml.Node, at int, wk, wv *yaml.Node) error {
	if at < 0 {
		return errReplace
	}
	end, _ := s.entryEnd(o, at)
	text, err := s.lay.entry(fresh(wk), fresh(wv), o.Content[2*at].Column-1, false)
	if err != nil {
		return err
	}
	s.emit(end, end, text)
	return nil
}

// sequence splices a block sequence the same way, item by item.
func (s *splicer) sequence(w, o *yaml.Node) error {
	if len(w.Content) == 0 {
		return errReplace // an empty block sequence cannot be written: []
	}
	index := map[*yaml.Node]int{}
	for i, item := range o.Content {
		index[item] = i
	}
	used := make([]bool, len(o.Content))
	last := -1
	for _, wi := range w.Content {
		i, ok := index[s.corr[wi]]
		if !ok {
			continue
		}
		if i <= last {
			return errReplace // reordered items
		}
		last, used[i] = i, true
	}
	for i, u := range used {
		if !u {
			start, end, _, _, ok := s.itemSpan(o.Content[i])
			if !ok {
				return errReplace
			}
			s.emit(start, end, "")
		}
	}
	anchor := -1
	for _, wi := range w.Content {
		i, ok := index[s.corr[wi]]
		if !ok {
			if err := s.insertItem(o, anchor, wi); err != nil {
				return err
			}
			continue
		}
		anchor = i
		err := s.try(func() error { return s.node(wi, o.Content[i]) })
		if err == errReplace {
			err = s.replaceItem(o.Content[i], wi)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// itemSpan is the text of one block sequence item, from the start of its
// dash line; indent is the dash's column, 0-based.
func (s *splicer) itemSpan(item *yaml.Node) (start, end, indent int, tail []byte, ok bool) {
	dash := dashColumn(s.l, item)
	if dash == 0 {
		return 0, 0, 0, nil, false
	}
	last := s.end[item]
	trimmed := s.l.trimTail(last, item.Line, dash-1)
	start, end = s.l.start(item.Line), s.l.start(trimmed)
	return start, end, dash - 1, s.l.src[end:s.l.start(last)], true
}

func (s *splicer) replaceItem(item, wi *yaml.Node) error {
	start, end, indent, tail, ok := s.itemSpan(item)
	if !ok {
		return errReplace
	}
	c := fresh(wi)
	c.HeadComment = ""
	if c.Kind == yaml.MappingNode && len(c.Content) > 0 {
		c.Content[0].HeadComment = "" // yaml.v3 keeps an item's head comment here
	}
	dropFootComments(c, tail)
	text, err := s.lay.item(c, indent)
	if err != nil {
		return err
	}
	s.emit(start, end, text)
	return nil
}

func (s *splicer) insertItem(o *yaml.Node, anchor int, wi *yaml.Node) error {
	ref := 0
	if anchor >= 0 {
		ref = anchor
	}
	start, end, indent, _, ok := s.itemSpan(o.Content[ref])
	if !ok {
		return errReplace
	}
	at := end
	if anchor < 0 {
		at = start // before every kept item
	}
	text, err := s.lay.item(fresh(wi), indent)
	if err != nil {
		return err
	}
	s.emit(at, at, text)
	return nil
}

// dropFootComments forgets the foot comments whose lines stay in the file
// after a rewritten node, so they are not written twice.
func dropFootComments(n *yaml.Node, tail []byte) {
	if n.FootComment != "" && bytes.Contains(tail, []byte(n.FootComment)) {
		n.FootComment = ""
	}
	for _, c := range n.Content {
		dropFootComments(c, tail)
	}
}
