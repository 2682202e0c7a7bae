package main

import (
	"fmt"
	"math/rand/v2"
	"os"
)

// arithmeticRows is the size of the arithmetic set: over the 2000 rows a
// validator needs to hold out a test split.
const arithmeticRows = 2200

// grpoRow is one row of a grpo dataset: a prompt and the extra column
// the rewards read.
type grpoRow struct {
	Prompt string `json:"prompt" parquet:"prompt"`
	Answer int    `json:"answer" parquet:"answer"`
}

var (
	arithNames   = []string{"Anna", "Ben", "Clara", "David", "Emma", "Frank", "Grace", "Henry", "Iris", "Jack", "Kate", "Leo", "Maria", "Noah", "Olivia", "Paul", "Rosa", "Sam", "Tom", "Vera"}
	arithObjects = []string{"apples", "books", "coins", "pencils", "marbles", "stamps", "cookies", "shells", "cards", "flowers", "eggs", "stones", "ribbons", "buttons", "candles", "letters"}
)

// arithmeticProblems makes n distinct one-step word problems (addition,
// subtraction, doubling, sharing) with small whole-number answers, from a
// fixed seed: the same rows on every machine.
func arithmeticProblems(n int) []grpoRow {
	rng := rand.New(rand.NewPCG(20, 56))
	seen := map[string]bool{}
	var out []grpoRow
	for len(out) < n {
		who := arithNames[rng.IntN(len(arithNames))]
		what := arithObjects[rng.IntN(len(arithObjects))]
		a, b := 1+rng.IntN(12), 1+rng.IntN(9)
		var q string
		var ans int
		switch rng.IntN(6) {
		case 0:
			q, ans = fmt.Sprintf("%s has %d %s and finds %d more. How many %s does %s have now?", who, a, what, b, what, who), a+b
		case 1:
			q, ans = fmt.Sprintf("%s buys %d %s, then %d more. How many %s did %s buy?", who, a, what, b, what, who), a+b
		case 2:
			a += b
			q, ans = fmt.Sprintf("%s has %d %s and gives away %d. How many %s are left?", who, a, what, b, what), a-b
		case 3:
			a += b
			q, ans = fmt.Sprintf("There are %d %s on the table. %s takes %d. How many %s are still on the table?", a, what, who, b, what), a-b
		case 4:
			q, ans = fmt.Sprintf("%s has %d %s. A friend gives %s as many again. How many %s does %s have?", who, a, what, pronoun(who), what, who), 2*a
		default:
			k := 2 + rng.IntN(3)
			m := 1 + rng.IntN(6)
			q, ans = fmt.Sprintf("%s shares %d %s equally among %d friends. How many %s does each friend get?", who, k*m, what, k, what), m
		}
		if seen[q] {
			continue
		}
		seen[q] = true
		out = append(out, grpoRow{Prompt: "Question: " + q + "\nAnswer:", Answer: ans})
	}
	return out
}

func pronoun(name string) string {
	switch name {
	case "Anna", "Clara", "Emma", "Grace", "Iris", "Kate", "Maria", "Olivia", "Rosa", "Vera":
		return "her"
	}
	return "him"
}

// buildArithmetic writes the grpo set arithmetic.{jsonl,parquet}: word
// problems with numeric answers, for rewards such as numeric_answer.
func buildArithmetic(o options) error {
	dir := datasetsDir(o)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rows := arithmeticProblems(arithmeticRows)
	if err := writeBoth(dir, "arithmetic", rows); err != nil {
		return err
	}
	fmt.Printf("arithmetic: %d problems\n", len(rows))
	return nil
}
