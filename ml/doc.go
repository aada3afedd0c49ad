// Package ml scores events with machine-learning models: a PMML 4.x
// evaluator for models trained elsewhere (scikit-learn, XGBoost, LightGBM, R,
// SAS, KNIME exported to PMML), and online models that keep learning from
// the stream.
//
// # Loading and scoring
//
// Load or Parse compiles a document once into an immutable Model that knows
// its name (the file's base name without .pmml), its version (the first 12
// hex digits of the document's SHA-256), its inputs, target and outputs.
// A Scorer holds buffers sized at creation: resolve input indexes once with
// Model.InputIndex, set typed values (Num, Str, Bool, Missing) and call
// Score, which allocates nothing in the steady state. Scorers are not safe
// for concurrent use; Models are. Model.Score and ScoreRows are allocating
// conveniences for tests, the CLI and batch checks.
//
// Anything the evaluator does not implement is rejected at load with the
// file, line and element, e.g.
//
//	model.pmml:42: unsupported element <SupportVectorMachineModel>
//
// so a model is never silently mis-scored. One load reports up to 20 errors.
//
// # Score and Reasons
//
// Result.Score is the number a rule uses: for a binary classification the
// probability of the positive class, which is the class spelled 1, true,
// yes, y or positive (any case) when exactly one of the two is, otherwise
// the second class in the target's DataDictionary order; for a
// classification with more classes, the probability of the predicted class;
// for a regression (and a scorecard), the predicted value. It is NaN when
// the model makes no prediction (Result.OK is false).
//
// Result.Reasons explains the prediction: a scorecard's reason codes ranked
// by points (see below); a tree's predicates on the path to the deciding
// node, root first, rendered like `amount > 500`, `country in {"FR", "DE"}`
// or `device is missing` (a <True/> branch after a comparison reads as the
// negated comparison, e.g. `amount <= 500`); for a MiningModel that picks one segment
// (selectFirst, selectAll, modelChain), that segment's reasons. Ensembles
// that combine many models give none.
//
// # Supported PMML
//
// Documents: PMML 3.x and 4.x with one model; Header, MiningBuildTask,
// Extension, ModelStats, ModelExplanation and ModelVerification are read
// past. DataDictionary DataFields of dataType string, integer, float, double
// or boolean (date and time types are rejected) and optype continuous,
// categorical or ordinal, with Value lists (property valid, invalid,
// missing) and Intervals. Values outside a field's domain are invalid.
//
// MiningSchema: usageType active, predicted/target, supplementary (group,
// order and weights are ignored); invalidValueTreatment returnInvalid (an
// InvalidValueError), asIs, asMissing, asValue with
// invalidValueReplacement; missingValueReplacement, missingValueTreatment
// (returnInvalid is a MissingValueError; the others document the
// replacement); outliers asIs, asMissingValues, asExtremeValues with
// lowValue and highValue. Nested models apply their own MiningSchema.
//
// Targets: one Target with min, max, rescaleFactor, rescaleConstant and
// castInteger (round, ceiling, floor) for regressions; TargetValue
// defaultValue and priorProbability when a model has no prediction, and
// displayValue.
//
// Output: OutputField features predictedValue, predictedDisplayValue,
// probability (of a value, or of the predicted class), confidence,
// transformedValue and decision (an expression over model fields and
// earlier outputs), reasonCode with rank, entityId (the tree node's id),
// with segmentId to read a segment's result and dataType casts.
//
// Transformations: TransformationDictionary (DerivedField, DefineFunction
// with ParameterFields) and LocalTransformations, in any order, with cycles
// rejected. Expressions: Constant (with dataType and missing), FieldRef
// (mapMissingTo), NormContinuous (LinearNorm, outliers asIs,
// asMissingValues, asExtremeValues, mapMissingTo), NormDiscrete, Discretize,
// MapValues over an InlineTable, and Apply with mapMissingTo, defaultValue
// and invalidValueTreatment. Built-in functions: + - * / min max sum avg
// median product log10 ln log1p exp expm1 sqrt abs pow threshold floor ceil
// round rint modulo sin cos tan asin acos atan atan2 sinh cosh tanh hypot
// erf stdNormalCDF stdNormalPDF stdNormalIDF normalCDF normalPDF normalIDF
// isMissing isNotMissing isValid isNotValid equal notEqual lessThan
// lessOrEqual greaterThan greaterOrEqual and or not isIn isNotIn if
// uppercase lowercase substring trimBlanks stringLength concat replace
// matches formatNumber. and/or use three-valued logic; other functions
// return missing on a missing argument. An invalid numeric result (a
// division by zero, ln of a negative) is an ApplyError unless the Apply
// says asMissing or asIs.
//
// RegressionModel: regression (normalizationMethod none, logit, exp,
// probit, cloglog, loglog, cauchit applied to the single table) and
// classification with NumericPredictor (exponent), CategoricalPredictor and
// PredictorTerm. normalizationMethod softmax and simplemax normalise all
// tables; none, logit, probit, cloglog, loglog, cauchit and exp give each
// table's class f(y) and the last table's class the rest, which is the
// binary case; with more classes they need an ordinal target and are read
// as cumulative links. A missing numeric input leaves the model without a
// prediction; a missing categorical input matches no category.
//
// TreeModel: SimplePredicate (all operators; ordinal fields compare by value
// order), SimpleSetPredicate, CompoundPredicate (and, or, xor, surrogate),
// True and False with three-valued logic; missingValueStrategy none,
// lastPrediction, nullPrediction, defaultChild (with missingValuePenalty on
// confidence), weightedConfidence and aggregateNodes; noTrueChildStrategy
// returnNullPrediction and returnLastPrediction; ScoreDistribution with
// probability, or recordCount shares, and confidence.
//
// MiningModel with Segmentation (nested at any depth): multipleModelMethod
// sum, weightedSum, average, weightedAverage, median, weightedMedian, max,
// majorityVote, weightedMajorityVote, selectFirst, selectAll (the first
// matching segment is the result; other segments through segmentId),
// modelChain (each segment's outputs are fields for later segments; the
// last matching segment is the result); missingPredictionTreatment
// returnMissing, skipSegment and continue with missingThreshold. Ties in a
// vote go to the first class in target order; max for a classification
// takes the distribution of the segment with the most confident class.
// Regression tree ensembles with numeric splits (random forests, gradient
// boosting) are walked through a compact layout several trees at a time.
//
// Scorecard: initialScore, Characteristics of Attributes with a predicate
// and partialScore or ComplexPartialScore, useReasonCodes,
// reasonCodeAlgorithm pointsBelow (baseline - partial) and pointsAbove
// (partial - baseline), baselineScore on the Scorecard or the
// Characteristic, reasonCode on the Attribute or the Characteristic;
// baselineMethod is informational. Points of the same reason code add up;
// the codes of the characteristics that scored are ranked by points,
// highest first, ties in document order. A characteristic with no matching
// attribute is a NoAttributeError.
//
// NeuralNetwork: feed-forward layers with activationFunction threshold,
// logistic, tanh, identity, exponential, reciprocal, square, Gauss, sine,
// cosine, Elliott, arctan, rectifier and radialBasis (width, altitude),
// per network, layer or neuron; normalizationMethod none, softmax and
// simplemax; NeuralInputs with any DerivedField expression; NeuralOutputs
// with NormDiscrete (class probabilities), FieldRef or NormContinuous
// (inverted) for regressions. The logistic activation saturates to 0 or 1
// beyond ±15, as R's nnet and the JPMML reference evaluator do.
//
// # Online models
//
// Baseline keeps a per-entity exponentially weighted mean and variance with
// a half-life in event time (or a per-observation alpha) and gives z-scores;
// OnlineLogistic is a logistic regression learnt with FTRL-proximal over
// hashed feature names, ready after a configured number of labels so that
// callers can fall back to a PMML model until then. Time is always an
// argument. Their state has a versioned binary form (MarshalBinary,
// UnmarshalBinary) for the engine's state store.
package ml
