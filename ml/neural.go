package ml

import (
	"math"
)

type activation uint8

const (
	actThreshold activation = iota
	actLogistic
	actTanh
	actIdentity
	actExponential
	actReciprocal
	actSquare
	actGauss
	actSine
	actCosine
	actElliott
	actArctan
	actRectifier
	actRadialBasis
)

var activations = map[string]activation{
	"threshold": actThreshold, "logistic": actLogistic, "tanh": actTanh, "identity": actIdentity,
	"exponential": actExponential, "reciprocal": actReciprocal, "square": actSquare, "Gauss": actGauss,
	"sine": actSine, "cosine": actCosine, "Elliott": actElliott, "arctan": actArctan,
	"rectifier": actRectifier, "radialBasis": actRadialBasis,
}

type neuron struct {
	bias     float64
	from     []int
	w        []float64
	width    float64
	altitude float64
}

type neuralLayer struct {
	neurons   []neuron
	act       activation
	threshold float64
	norm      normMethod
	start     int
	saturate  bool
}

type outKind uint8

const (
	outClass outKind = iota
	outValue
	outNormalized
)

type neuralOutput struct {
	neuron     int
	kind       outKind
	cat        int
	orig, norm []float64
}

type neuralNet struct {
	m       *modelNode
	inputs  []expr
	layers  []neuralLayer
	outputs []neuralOutput
}

func (c *compiler) neuralNetwork(m *modelNode, e *elem, sc *scope) modelEval {
	c.checkModelChildren(e, "NeuralInputs", "NeuralLayer", "NeuralOutputs")
	n := &neuralNet{m: m}
	act, ok := activations[c.errs.reqAttr(e, "activationFunction")]
	if !ok {
		c.errs.add(e, "<NeuralNetwork> activationFunction %q is not supported", e.attrOr("activationFunction", ""))
	}
	threshold := c.errs.float(e, "threshold", 0)
	width := c.errs.float(e, "width", math.NaN())
	altitude := c.errs.float(e, "altitude", 1)
	netNorm := c.errs.enum(e, "normalizationMethod", "none", "simplemax", "softmax")
	idx := map[string]int{}
	ni := e.child("NeuralInputs")
	if ni == nil {
		c.errs.add(e, "<NeuralNetwork> has no <NeuralInputs>")
		return nil
	}
	c.errs.checkChildren(ni, "NeuralInput")
	for _, in := range ni.all("NeuralInput") {
		c.errs.checkChildren(in, "DerivedField")
		id := c.errs.reqAttr(in, "id")
		df := in.child("DerivedField")
		if df == nil {
			c.errs.add(in, "<NeuralInput> has no <DerivedField>")
			continue
		}
		var x expr = constExpr{}
		for _, ch := range df.children {
			if !ignorable[ch.name] && ch.name != "Value" {
				x = c.expression(ch, sc)
			}
		}
		idx[id] = len(n.inputs)
		n.inputs = append(n.inputs, x)
	}
	count := len(n.inputs)
	for _, le := range e.all("NeuralLayer") {
		c.errs.checkChildren(le, "Neuron")
		l := neuralLayer{act: act, threshold: threshold, start: count, saturate: rNnet[c.application]}
		if s, ok := le.attr("activationFunction"); ok {
			a, ok := activations[s]
			if !ok {
				c.errs.add(le, "<NeuralLayer> activationFunction %q is not supported", s)
			}
			l.act = a
		}
		l.threshold = c.errs.float(le, "threshold", threshold)
		lw := c.errs.float(le, "width", width)
		la := c.errs.float(le, "altitude", altitude)
		switch c.errs.enum(le, "normalizationMethod", netNorm, "none", "simplemax", "softmax") {
		case "softmax":
			l.norm = normSoftmax
		case "simplemax":
			l.norm = normSimplemax
		}
		for _, ne := range le.all("Neuron") {
			c.errs.checkChildren(ne, "Con")
			nr := neuron{bias: c.errs.float(ne, "bias", 0), width: c.errs.float(ne, "width", lw), altitude: c.errs.float(ne, "altitude", la)}
			if l.act == actRadialBasis && (math.IsNaN(nr.width) || nr.width == 0) {
				c.errs.add(ne, "radialBasis <Neuron> needs a width")
			}
			for _, con := range ne.all("Con") {
				c.errs.checkChildren(con)
				from := c.errs.reqAttr(con, "from")
				j, ok := idx[from]
				if !ok {
					c.errs.add(con, "<Con from=%q> names no earlier neuron or input", from)
					continue
				}
				nr.from = append(nr.from, j)
				nr.w = append(nr.w, c.errs.reqFloat(con, "weight"))
			}
			id := c.errs.reqAttr(ne, "id")
			if _, dup := idx[id]; dup {
				c.errs.add(ne, "neuron id %q is used twice", id)
			}
			idx[id] = count
			count++
			l.neurons = append(l.neurons, nr)
		}
		n.layers = append(n.layers, l)
	}
	if len(n.layers) == 0 {
		c.errs.add(e, "<NeuralNetwork> has no <NeuralLayer>")
		return nil
	}
	no := e.child("NeuralOutputs")
	if no == nil {
		c.errs.add(e, "<NeuralNetwork> has no <NeuralOutputs>")
		return nil
	}
	c.errs.checkChildren(no, "NeuralOutput")
	for _, oe := range no.all("NeuralOutput") {
		c.errs.checkChildren(oe, "DerivedField")
		id := c.errs.reqAttr(oe, "outputNeuron")
		j, ok := idx[id]
		if !ok {
			c.errs.add(oe, "outputNeuron %q is not a neuron", id)
			continue
		}
		out := neuralOutput{neuron: j}
		df := oe.child("DerivedField")
		var x *elem
		if df != nil {
			for _, ch := range df.children {
				if !ignorable[ch.name] && ch.name != "Value" {
					x = ch
				}
			}
		}
		if x == nil {
			c.errs.add(oe, "<NeuralOutput> needs a <DerivedField> with NormDiscrete, NormContinuous or FieldRef")
			continue
		}
		switch x.name {
		case "NormDiscrete":
			if m.fn != classification {
				c.errs.add(x, "<NormDiscrete> output in a regression network")
				continue
			}
			out.kind = outClass
			out.cat = c.cat(m, c.errs.reqAttr(x, "value"), x)
		case "FieldRef":
			out.kind = outValue
		case "NormContinuous":
			out.kind = outNormalized
			for _, ln := range x.all("LinearNorm") {
				out.orig = append(out.orig, c.errs.reqFloat(ln, "orig"))
				out.norm = append(out.norm, c.errs.reqFloat(ln, "norm"))
			}
			if len(out.orig) < 2 {
				c.errs.add(x, "<NormContinuous> needs at least two <LinearNorm>")
				continue
			}
		default:
			c.errs.add(x, "<%s> is not supported in a <NeuralOutput>", x.name)
			continue
		}
		if m.fn == regression && out.kind == outClass || m.fn == classification && out.kind != outClass {
			c.errs.add(x, "<NeuralOutput> does not fit a %s network", fnName(m.fn))
			continue
		}
		n.outputs = append(n.outputs, out)
	}
	if len(n.outputs) == 0 {
		c.errs.add(no, "<NeuralOutputs> has no usable output")
		return nil
	}
	m.scratch = count
	return n
}

const logisticLimit = 15

// rNnet names the exporters of R's pmml package, whose networks come from
// nnet: nnet's logistic saturates to exactly 0 and 1 beyond ±15, and the
// network was trained and checked that way, so it is scored that way.
// Every other network gets the exact logistic, which keeps a probability
// such as 1.35e-7 (KNIME, scikit-learn) instead of flushing it to 0.
var rNnet = map[string]bool{"Rattle/PMML": true, "R-PMML": true, "SoftwareAG PMML Generator": true}

func activate(a activation, z, threshold float64, saturate bool) float64 {
	switch a {
	case actThreshold:
		if z > threshold {
			return 1
		}
		return 0
	case actLogistic:
		if saturate {
			if z > logisticLimit {
				return 1
			}
			if z < -logisticLimit {
				return 0
			}
		}
		return 1 / (1 + math.Exp(-z))
	case actTanh:
		return math.Tanh(z)
	case actExponential:
		return math.Exp(z)
	case actReciprocal:
		return 1 / z
	case actSquare:
		return z * z
	case actGauss:
		return math.Exp(-z * z)
	case actSine:
		return math.Sin(z)
	case actCosine:
		return math.Cos(z)
	case actElliott:
		return z / (1 + math.Abs(z))
	case actArctan:
		return 2 * math.Atan(z) / math.Pi
	case actRectifier:
		return math.Max(0, z)
	}
	return z
}

func (n *neuralNet) eval(s *Scorer, p *prediction) {
	a := p.scratch
	for i, x := range n.inputs {
		f, ok := x.eval(s).Float()
		if !ok {
			return
		}
		a[i] = f
	}
	for li := range n.layers {
		l := &n.layers[li]
		for j := range l.neurons {
			nr := &l.neurons[j]
			var out float64
			if l.act == actRadialBasis {
				z := 0.0
				for k, from := range nr.from {
					d := a[from] - nr.w[k]
					z += d * d
				}
				z /= 2 * nr.width * nr.width
				out = math.Exp(float64(len(nr.from))*math.Log(nr.altitude) - z)
			} else {
				z := nr.bias
				for k, from := range nr.from {
					z += nr.w[k] * a[from]
				}
				out = activate(l.act, z, l.threshold, l.saturate)
			}
			a[l.start+j] = out
		}
		outs := a[l.start : l.start+len(l.neurons)]
		switch l.norm {
		case normSoftmax:
			maxZ := math.Inf(-1)
			for _, z := range outs {
				maxZ = math.Max(maxZ, z)
			}
			sum := 0.0
			for k, z := range outs {
				outs[k] = math.Exp(z - maxZ)
				sum += outs[k]
			}
			for k := range outs {
				outs[k] /= sum
			}
		case normSimplemax:
			sum := 0.0
			for _, z := range outs {
				sum += z
			}
			for k := range outs {
				outs[k] /= sum
			}
		}
	}
	m := n.m
	if m.fn == classification {
		for _, o := range n.outputs {
			p.probs[o.cat] = a[o.neuron]
		}
		m.setClass(p)
		return
	}
	o := n.outputs[0]
	y := a[o.neuron]
	if o.kind == outNormalized {
		y = denormalize(o.orig, o.norm, y)
	}
	m.setNumber(p, y)
}

// denormalize inverts a piecewise-linear NormContinuous, extrapolating
// beyond its ends.
func denormalize(orig, norm []float64, y float64) float64 {
	i := 0
	for i < len(norm)-2 && y > norm[i+1] {
		i++
	}
	x0, x1, y0, y1 := orig[i], orig[i+1], norm[i], norm[i+1]
	return x0 + (y-y0)/(y1-y0)*(x1-x0)
}
