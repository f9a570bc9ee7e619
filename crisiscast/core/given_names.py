"""Common given names (US Social Security top names across the decades, and frequent Hispanic, Asian and
African American names), lower case: the PHI guard's cue that two capitalised words are a person."""

GIVEN_NAMES = frozenset("""
aaron abigail adam adrian agnes aiden aisha alan albert alberto alejandro alex alexander alexandra alexis
alfred alice alicia alison allen alma alyssa amanda amber amelia amy ana andre andrea andres andrew angel
angela angelica angelo anita ann anna anne annie anthony antonio april arthur ashley audrey austin ava
barbara barry beatrice becky ben benjamin bernard beth betty beverly bill billy bob bobby bonnie brad bradley
brandon brenda brent brett brian brianna bridget brittany brooke bruce bryan caleb calvin cameron carl carla
carlos carmen carol caroline carolyn carrie casey catherine cecilia cesar chad charles charlene charlie
charlotte chelsea cheryl chloe chris christian christina christine christopher cindy claire clara clarence
claudia clayton clifford clinton cody colin connie connor craig crystal curtis cynthia daisy dale dallas damon
dan dana daniel danielle danny darius darlene darrell darren dave david dawn dean deborah debra denise dennis
derek derrick desiree destiny devon diana diane dolores dominic don donald donna doris dorothy doug douglas
duane dustin dwayne dylan earl eddie edgar edith edna eduardo edward edwin eileen elaine eleanor elena eli
elijah elizabeth ella ellen ellie elsie emily emma enrique eric erica erik erin ernest esther ethan eugene eva
evan evelyn faith felicia felix fernando florence frances francis francisco frank franklin fred frederick
gabriel gabriela gail gary gavin gene geoffrey george gerald gina glen glenn gloria gordon grace grant greg
gregory guadalupe gwendolyn hailey hannah harold harry hazel heather hector heidi helen henry herbert holly
howard hugo ian irene isaac isabel isabella ivan jack jackie jackson jacob jacqueline jaime jake james jamie
jan jane janet janice jared jasmine jason javier jay jean jeff jeffrey jenna jennifer jenny jeremy jerome
jerry jesse jessica jesus jill jim jimmy jo joan joann joanne joe joel john johnny jon jonathan jordan jorge
jose joseph josephine joshua joy joyce juan juanita judith judy julia julian julie june justin kaitlyn karen
karl kate katherine kathleen kathryn kathy katie kayla keith kelly kelsey ken kendra kenneth kevin kim
kimberly kristen kristin kyle lakisha lance larry latoya laura lauren laurie lawrence leah lee leon leonard
leroy leslie lillian lily linda lindsay lindsey lisa logan lois lonnie lorenzo lori lorraine louis louise
lucas lucy luis luke lydia lynn mackenzie madison malik manuel marc marcia marco marcus margaret maria marie
marilyn mario marion marjorie mark marlene marsha martha martin marvin mary mason matthew maureen max maya
megan melanie melissa melvin mercedes michael michele michelle miguel mike mildred miranda misty mitchell
molly monica morgan nancy naomi natalie nathan nathaniel neil nicholas nicole noah norma norman oliver olivia
omar oscar pablo pamela patricia patrick paul paula pedro peggy penny peter philip phillip phyllis priscilla
rachel rafael ralph ramon randall randy ray raymond rebecca regina renee rhonda ricardo richard rick ricky
rita robert roberta roberto robin rodney roger roland ron ronald ronnie rosa rose rosemary ross roy ruby
russell ruth ryan sabrina sally sam samantha samuel sandra sara sarah scott sean sergio seth shannon sharon
shawn sheila shelby shelly sherry shirley sierra sofia sophia stacy stanley stella stephanie stephen steve
steven sue susan sydney sylvia tamara tammy tanya tara taylor ted teresa terrance terri terry theodore
theresa thomas tiffany tim timothy tina todd tom tommy toni tony tracy travis trevor troy tyler tyrone
valerie vanessa vernon veronica vicki victor victoria vincent virginia wade walter wanda warren wayne wendy
wesley whitney william willie wilma xavier yolanda yvonne zachary zoe
wei li ming hui jun mei yan hao jin hyun min ji young soo anh linh minh thanh tuan priya raj rahul sanjay
amit deepak anil sunil vijay aarav arjun fatima mohammed muhammad ahmed ali hassan omar yusuf leila nadia
""".split())
