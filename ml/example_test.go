package ml_test

import (
	"fmt"
	"log"
	"strings"
	"testing"

	"github.com/cep-project/cep/ml"
)

const cardRisk = `<PMML version="4.4" xmlns="http://www.dmg.org/PMML-4_4">
 <DataDictionary>
  <DataField name="amount" optype="continuous" dataType="double"/>
  <DataField name="declines" optype="continuous" dataType="integer"/>
  <DataField name="fraud" optype="categorical" dataType="string"><Value value="no"/><Value value="yes"/></DataField>
 </DataDictionary>
 <TreeModel functionName="classification">
  <MiningSchema>
   <MiningField name="amount"/><MiningField name="declines"/><MiningField name="fraud" usageType="target"/>
  </MiningSchema>
  <Node score="no"><True/>
   <Node score="no"><SimplePredicate field="declines" operator="lessThan" value="3"/>
    <ScoreDistribution value="no" recordCount="95"/><ScoreDistribution value="yes" recordCount="5"/>
   </Node>
   <Node><SimplePredicate field="declines" operator="greaterOrEqual" value="3"/>
    <Node><SimplePredicate field="amount" operator="greaterThan" value="500"/>
     <ScoreDistribution value="no" recordCount="1"/><ScoreDistribution value="yes" recordCount="9"/>
    </Node>
    <Node score="no"><True/>
     <ScoreDistribution value="no" recordCount="7"/><ScoreDistribution value="yes" recordCount="3"/>
    </Node>
   </Node>
  </Node>
 </TreeModel>
</PMML>`

func Example() {
	m, err := ml.Parse(strings.NewReader(cardRisk), "models/card-risk.pmml")
	if err != nil {
		log.Fatal(err)
	}
	// Resolve inputs once, then score many times without allocating.
	amount, _ := m.InputIndex("amount")
	declines, _ := m.InputIndex("declines")
	s := m.NewScorer()
	s.SetNum(amount, 900)
	s.SetNum(declines, 4)
	r, err := s.Score()
	if err != nil {
		log.Fatal(err)
	}
	positive, _ := m.PositiveClass()
	fmt.Println(m.Name, r.Predicted(), positive, r.Score())
	fmt.Println(r.Reasons())
	// Output:
	// card-risk yes yes 0.9
	// [declines >= 3 amount > 500]
}

// TestTrueSibling covers a split whose second child is <True/>, as XGBoost
// and LightGBM exports write: the fast path must pick it when the first
// predicate fails, and the general path when the value is missing.
func TestTrueSibling(t *testing.T) {
	m, err := ml.Parse(strings.NewReader(cardRisk), "card-risk.pmml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		amount  ml.Value
		score   float64
		reasons string
	}{
		{ml.Num(100), 0.3, "[declines >= 3 amount <= 500]"},
		{ml.Num(500), 0.3, "[declines >= 3 amount <= 500]"},
		{ml.Num(500.5), 0.9, "[declines >= 3 amount > 500]"},
		{ml.Missing(), 0.3, "[declines >= 3 amount <= 500]"},
	}
	s := m.NewScorer()
	for _, tc := range tests {
		s.SetByName("amount", tc.amount)
		s.SetByName("declines", ml.Num(3))
		r, err := s.Score()
		if err != nil {
			t.Fatal(err)
		}
		if r.Score() != tc.score || fmt.Sprint(r.Reasons()) != tc.reasons {
			t.Errorf("amount %v: score %v reasons %v, want %v %v", tc.amount, r.Score(), r.Reasons(), tc.score, tc.reasons)
		}
	}
}
